"""The benchmarks' own database and Redis database, and the processes that run against them.

The benchmarks never touch the developer's data: PostgreSQL gets a `hub_bench` database (dropped and
recreated each run), SQLite a var/bench.sqlite3 file, and Redis its database 14 (on the user's Redis,
or on the embedded Valkey server when REDIS_URL is unset), flushed before and after.
BENCH_DATABASE and BENCH_REDIS_DB name others, so two benchmarks can share one server.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
# Production's settings, not development's: DEBUG=True keeps every query in memory, which slows
# the many-query paths more than their baselines. The secrets are new each run, and the bench's own.
PRODUCTION = {"DEBUG": "False", "ALLOWED_HOSTS": "127.0.0.1,localhost"}
VAR_DIR = BASE_DIR / "var"
BIN = Path(sys.executable).parent
# Never the user's own database: it is dropped and recreated on every run.
BENCH_DB_NAME = os.environ.get("BENCH_DATABASE") or "hub_bench"
BENCH_SQLITE = VAR_DIR / "bench.sqlite3"
BENCH_REDIS_DB = int(os.environ.get("BENCH_REDIS_DB") or 14)
LOG_DIR = VAR_DIR / "bench-logs"
SETTINGS_MODULE = "bench.settings"


@dataclass
class BenchEnv:
    database_url: str
    redis_url: str
    database: str  # what to print: "PostgreSQL hub_bench" or "SQLite var/bench.sqlite3"
    redis: str
    debug: bool

    def process_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            HUB_DEV_WARNING_SHOWN="1",  # this process warned once already
        )
        return env

    def manage(self, *args: str) -> str:
        """Run a management command to completion; its stdout, or its output in the exception."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.process_env(),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        """Start a process in its own session (so it is stopped with its children), logging to var/."""
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        with open(LOG_DIR / f"{name}.log", "ab") as log:
            return subprocess.Popen(
                args,
                cwd=BASE_DIR,
                env=self.process_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM the process's group, then SIGKILL it if it is still there after `timeout`."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def descendants(pid: int) -> list[int]:
    """The pids of a process's children, their children, ... (from /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found.extend(children)
        todo.extend(children)
    return found


def cpu_times() -> tuple[int, int] | None:
    """The whole machine's CPU time so far, (busy, total) in clock ticks, from Linux's /proc/stat;
    None elsewhere. Two readings tell how busy the machine was between them (`busy_share`)."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
    total = sum(fields[:8])  # user..steal; guest time is counted in user already
    return total - idle, total


def busy_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of all the machine's cores that was busy between two `cpu_times` readings."""
    if before is None or after is None or after[1] == before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def with_redis_db(url: str, db: int) -> str:
    """The same Redis with another database number: in the path for redis://, `?db=` for unix://."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(db)
        # Built by hand: urlunsplit drops the "//" of a URL with no host, which redis-py refuses.
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


def bench_database_url(user_url: str) -> str:
    """The user's database server with the bench database on it; SQLite when no URL is given."""
    if not user_url:
        return f"sqlite:///{BENCH_SQLITE}"
    config = environ.Env.db_url_config(user_url)
    if config["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{BENCH_SQLITE}"
    if not config["ENGINE"].endswith("postgresql"):
        raise SystemExit(f"the benchmark knows PostgreSQL and SQLite, not {config['ENGINE']}")
    return urlunsplit(urlsplit(user_url)._replace(path=f"/{BENCH_DB_NAME}"))


def recreate_database(database_url: str) -> None:
    config = environ.Env.db_url_config(database_url)
    if config["ENGINE"].endswith("sqlite3"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{config['NAME']}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    # Connected to the server's maintenance database: a database cannot drop itself.
    with psycopg.connect(
        dbname="postgres",
        user=config["USER"] or None,
        password=config["PASSWORD"] or None,
        host=config["HOST"] or None,
        port=config["PORT"] or None,
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB_NAME}"')


def prepare() -> BenchEnv:
    """Point this process (and every process it starts) at the bench database and Redis db 14.

    Sets the environment before Django reads its settings, so `bench.settings` sees the bench URLs.
    """
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)  # as config.settings does
    os.environ.update(production_secrets())
    database_url = bench_database_url(os.environ.get("DATABASE_URL", ""))
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    user_redis = os.environ.get("REDIS_URL", "")
    if user_redis:
        os.environ["REDIS_URL"] = with_redis_db(user_redis, BENCH_REDIS_DB)

    import django

    django.setup()
    from django.conf import settings

    if settings.REDIS_IS_EMBEDDED:
        redis_url, redis = embedded_redis(settings)
    else:
        redis_url, redis = settings.REDIS_URL, f"Redis {settings.REDIS_URL}"
    recreate_database(database_url)
    shutil.rmtree(LOG_DIR, ignore_errors=True)  # the logs of this run only
    env = BenchEnv(
        database_url=database_url,
        redis_url=redis_url,
        database=describe_database(settings.DATABASES["default"]),
        redis=redis,
        debug=settings.DEBUG,
    )
    env.manage("migrate", "--noinput", "-v0")
    create_insert_table()
    flush_redis()
    return env


def production_secrets() -> dict[str, str]:
    """DEBUG off, with a secret key and an encryption key of this run (config.settings refuses
    to start without them)."""
    from cryptography.fernet import Fernet

    return PRODUCTION | {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "HUB_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }


def embedded_redis(settings: object) -> tuple[str, str]:
    """Start (or reuse) the embedded Valkey server and point this process at its db 14.

    The same in-process override as tests/conftest.py: settings were read before the URL was known.
    """
    from config.embedded import ensure_running
    from config.queues import get_queue, rq_queues

    ensure_running(settings.EMBEDDED_REDIS_DIR)  # stopped at exit if this process started it
    url = with_redis_db(settings.REDIS_URL, BENCH_REDIS_DB)
    settings.REDIS_URL = url
    settings.RQ_QUEUES = rq_queues(url, sentinels=[], sentinel_master="")
    get_queue.cache_clear()
    os.environ["REDIS_URL"] = url
    return url, f"embedded Valkey {url}"


def describe_database(db: dict[str, object]) -> str:
    if str(db["ENGINE"]).endswith("sqlite3"):
        return f"SQLite {Path(str(db['NAME'])).relative_to(BASE_DIR)}"
    return f"PostgreSQL {db['NAME']} on {db['HOST'] or 'localhost'}:{db['PORT'] or 5432}"


def create_insert_table() -> None:
    """The table of the single-INSERT baseline view (bench.views.insert)."""
    from django.db import connection

    key = "bigserial PRIMARY KEY" if connection.vendor == "postgresql" else "INTEGER PRIMARY KEY"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS bench_insert (id {key}, body text NOT NULL)")


def flush_redis() -> None:
    from config.queues import get_queue

    get_queue("webhooks").connection.flushdb()


def cleanup() -> None:
    from django.db import connections

    flush_redis()
    connections.close_all()
