"""Real processes: gunicorn serving the hub and rq workers, against the test database and Redis;
posting to them over HTTP, and holding a worker inside its job."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection
from rq.job import Job, JobStatus

from bench.environment import descendants
from config.queues import get_queue
from tests.channels_app import factories
from tests.platforms import LOOPBACK, as_http_headers, fixture_bytes, shopify_headers

BASE_DIR = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float = 20, interval: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")


def waiting_for_locks(count: int = 1) -> bool:
    """At least `count` PostgreSQL backends of this database wait for a lock (workers, blocked
    mid-transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] >= count


def database_url_for_processes() -> str:
    """The URL of the database pytest-django created, for processes the test starts."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def running(pid: int) -> bool:
    """The process exists and is not a zombie (a dead child nobody reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def post(url: str, body: bytes, django_headers: dict[str, str]) -> requests.Response:
    headers = {"Content-Type": "application/json", **as_http_headers(django_headers)}
    return requests.post(url, data=body, headers=headers, timeout=10)


def post_uninstall(base: str, event_id: str = "uninstall-1") -> requests.Response:
    body = fixture_bytes("shopify/webhooks/app_uninstalled.json")
    headers = shopify_headers(
        secret=factories.SHOPIFY_SECRET,
        body=body,
        shop=factories.SHOPIFY_SHOP,
        topic="app/uninstalled",
        event_id=event_id,
    )
    return post(f"{base}/webhooks/shopify/", body, headers)


@contextmanager
def worker_blocked_mid_job(table: str = "channels_app_channel", *, lock: str = "") -> Iterator[None]:
    """Hold a lock the job needs, so a worker stops inside it.

    PostgreSQL: the rows of `table` (the channel row app/uninstalled updates, the stock levels an
    order reserves), or what the `lock` statement takes. SQLite: the whole database (the worker
    then waits at its first write, the claim).
    """
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        writer = sqlite3.connect(db["NAME"], timeout=30, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            writer.execute("ROLLBACK")
            writer.close()
    else:
        import psycopg

        with psycopg.connect(
            host=db["HOST"] or "127.0.0.1",
            port=db["PORT"] or 5432,
            user=db["USER"],
            dbname=db["NAME"],
            password=db["PASSWORD"] or None,
        ) as holder:
            holder.execute(lock or f"SELECT id FROM {table} FOR UPDATE")
            yield
            holder.rollback()


def job_started(job_id: str) -> bool:
    try:
        return (
            Job.fetch(job_id, connection=get_queue("webhooks").connection).get_status() == JobStatus.STARTED
        )
    except Exception:
        return False


class Processes:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[subprocess.Popen[bytes]] = []

    def env(self, **overrides: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=database_url_for_processes(),
            REDIS_URL=settings.REDIS_URL,
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            LOG_FORMAT="json",
            HUB_DEV_WARNING_SHOWN="1",
            # The platforms' stand-ins listen on loopback (tests/conftest.py).
            HUB_OUTBOUND_ALLOW_NETWORKS=",".join(LOOPBACK),
        )
        env.update(overrides)
        return env

    def start(self, name: str, args: list[str], **env: str) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")
        # Its own process group: rq's scheduler runs in a child process that outlives a SIGKILLed
        # worker, so processes are stopped (and killed) by group.
        process = subprocess.Popen(
            args,
            cwd=BASE_DIR,
            env=self.env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def web(self, name: str = "web", workers: int = 2, **env: str) -> str:
        port = free_port()
        self.start(
            name,
            [
                *(str(BIN / "gunicorn"), "-c", "python:config.gunicorn", "config.wsgi"),
                *("--bind", f"127.0.0.1:{port}", "--workers", str(workers)),
            ],
            **env,
        )
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return requests.get(f"{url}/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(up, timeout=30)
        return url

    def worker(
        self, *queues: str, name: str = "worker", burst: bool = False, **env: str
    ) -> subprocess.Popen[bytes]:
        args = [sys.executable, "manage.py", "rqworker", *queues]
        return self.start(name, args + (["--burst"] if burst else []), **env)

    @staticmethod
    def kill(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """The process and everything it started, as when its container dies: its group, and the
        groups of its descendants (rq's work horse makes its own process group)."""
        for pid in [process.pid, *descendants(process.pid)]:
            try:
                os.killpg(pid, sig)
            except (ProcessLookupError, PermissionError):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            self.kill(process)  # whatever it left behind in its group


@pytest.fixture
def processes(transactional_db, tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()
        connection.close()
