"""`manage.py healthcheck worker|scheduler`, the containers' health checks (docker-compose.yml),
against real worker and scheduler processes: healthy while the process runs and beats, unhealthy
once it is killed, though its registration is still in Redis."""

import io
import signal
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from config.health import live_schedulers_here, live_workers_here
from tests.e2e.conftest import BASE_DIR, wait_for

pytestmark = pytest.mark.e2e


def healthcheck(processes, *args: str) -> subprocess.CompletedProcess[str]:
    """As Docker runs it: a process of its own, judged by its exit status."""
    return subprocess.run(
        [sys.executable, "manage.py", "healthcheck", *args],
        cwd=BASE_DIR,
        env=processes.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_worker_is_healthy_while_its_process_runs_and_not_once_killed(processes):
    assert healthcheck(processes, "worker").returncode == 1
    worker = processes.worker("housekeeping", "webhooks")
    wait_for(live_workers_here, timeout=30)
    alive = healthcheck(processes, "worker", "--queue", "webhooks")
    assert alive.returncode == 0 and f"(pid {worker.pid}) on housekeeping, webhooks" in alive.stdout
    with pytest.raises(CommandError, match="no worker of this machine serving catalog-images is alive"):
        call_command("healthcheck", "worker", "--queue", "catalog-images")

    processes.kill(worker)  # as the OOM killer would: its registration stays in Redis a while
    worker.wait()
    dead = healthcheck(processes, "worker")
    assert dead.returncode == 1 and "no worker of this machine is alive" in dead.stderr


def test_the_scheduler_is_healthy_while_it_beats(processes):
    with pytest.raises(CommandError, match="no scheduler of this machine is alive"):
        call_command("healthcheck", "scheduler")
    scheduler = processes.start("scheduler", [sys.executable, "manage.py", "run_scheduler"])
    wait_for(live_schedulers_here, timeout=30)
    out = io.StringIO()
    call_command("healthcheck", "scheduler", stdout=out)
    assert out.getvalue().strip() == f"ok: scheduler pid {scheduler.pid}"

    processes.kill(scheduler)
    scheduler.wait()
    assert healthcheck(processes, "scheduler").returncode == 1

    # Stopped warmly, it takes its heartbeat away at once.
    again = processes.start("scheduler-2", [sys.executable, "manage.py", "run_scheduler"])
    wait_for(live_schedulers_here, timeout=30)
    again.send_signal(signal.SIGTERM)
    again.wait(timeout=15)
    assert live_schedulers_here() == []
