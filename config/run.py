"""`make run`: the whole hub in the foreground on one machine.

Starts the embedded Valkey server when REDIS_URL is unset, migrates, creates an admin user if there
is none (printing its password once), collects static files, then runs the Procfile (web server,
workers, scheduler) with honcho. Ctrl-C stops them all, and Valkey last.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import django
from django.conf import settings

from config.embedded import ensure_running

BASE_DIR = Path(__file__).resolve().parent.parent


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    if settings.DEV_SECRETS_WARNING:
        print(f"Warning: {settings.DEV_SECRETS_WARNING}", file=sys.stderr, flush=True)
    env = child_environment(settings, os.environ)
    if settings.REDIS_IS_EMBEDDED:
        ensure_running(settings.EMBEDDED_REDIS_DIR)
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    for command in (["migrate", "--noinput"], ["ensure_admin"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run(manage + command, env=env, check=True, cwd=BASE_DIR)
    print(
        f"The hub is starting at http://127.0.0.1:{env['PORT']}/admin/ (Ctrl-C stops it); "
        f"webhooks go to {env['WEBHOOK_BASE_URL']}/webhooks/",
        flush=True,
    )
    # Ctrl-C reaches honcho and its processes directly; this process waits for them to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    honcho = subprocess.Popen(
        [sys.executable, "-m", "honcho", "start", "-f", "Procfile"], env=env, cwd=BASE_DIR
    )
    signal.signal(signal.SIGTERM, lambda signum, frame: honcho.terminate())
    return honcho.wait()


def child_environment(settings: Any, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of the web server, workers and scheduler: this one, plus what the settings
    derived here, so that every process agrees (and honcho, which reads their output through
    pipes, does not make them think they log to no terminal)."""
    env = dict(environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PORT"] = str(settings.PORT)
    # Where the web server listens, unless set: printed webhook URLs and signed URLs must match it.
    env["WEBHOOK_BASE_URL"] = settings.WEBHOOK_BASE_URL
    env["LOG_FORMAT"] = settings.LOG_FORMAT
    env["HUB_DEV_WARNING_SHOWN"] = "1"  # This process has said the warning once already.
    # honcho kills every process 5 s after the first one stops: a worker's grace must end first.
    env.setdefault("HUB_WORKER_SHUTDOWN_GRACE", "3")
    if settings.REDIS_IS_EMBEDDED:
        env["REDIS_URL"] = settings.REDIS_URL
    return env


if __name__ == "__main__":
    sys.exit(main())
