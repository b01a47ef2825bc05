"""gunicorn's settings for the hub: `gunicorn -c python:config.gunicorn config.wsgi --bind ...`.

Threads, not sync workers: a sync worker is held by one client for as long as that client takes to
send its body, and two slow clients stopped every webhook (Shopify gives 5 s). A thread is held at
most HUB_REQUEST_BODY_TIMEOUT seconds by a body that does not arrive (config.slowclients), and
gunicorn's threaded worker waits for a request's first bytes without a thread. WEB_CONCURRENCY
processes (default 2), each with WEB_THREADS threads (default 32; each may keep a database
connection). A process takes a few more connections than it has threads (kept-alive ones wait
without a thread), and leaves the rest to the others: slow clients landing on one process do not
starve the requests it would otherwise have taken.
"""

import os

worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "32"))
worker_connections = threads + 8
graceful_timeout = 30
timeout = 30
keepalive = 5
accesslog = "-"
