"""gunicorn's settings for the hub: `gunicorn -c python:config.gunicorn config.wsgi --bind ...`.

Threads, not sync workers: a sync worker is held by one client for as long as that client takes to
send its body, and two slow clients stopped every webhook (Shopify gives 5 s). Here a slow client
holds one thread of many, for at most HUB_REQUEST_BODY_TIMEOUT seconds once its headers are in
(config.slowclients cuts the body) and about 5 s before they start (gunicorn's own wait for a
request's first bytes). WEB_CONCURRENCY processes (default 2), each with WEB_THREADS threads
(default 32; each may keep a database connection). What no thread pool bounds (a client sending
its headers a byte at a time, thousands of connections) a buffering proxy in front does: see the
README's Security model.
"""

import os

worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "32"))
graceful_timeout = 30
timeout = 30
keepalive = 5
accesslog = "-"
