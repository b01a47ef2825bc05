from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from redis.exceptions import RedisError

from config.health import HEARTBEAT_FRESH, SCHEDULER_TTL, live_schedulers_here, live_workers_here


class Command(BaseCommand):
    help = (
        "Exit 0 when a worker (or the scheduler) of this machine is alive, 1 otherwise: a container's "
        "health check. Alive: registered in Redis with a heartbeat of the last minute, and its process "
        "running here."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("process", choices=["worker", "scheduler"])
        parser.add_argument(
            "--queue", action="append", default=[], help="A queue the worker must serve (repeatable)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["process"] == "worker":
                self._worker(options["queue"])
            else:
                self._scheduler()
        except RedisError as exc:
            raise CommandError(f"Redis does not answer: {exc}") from None

    def _worker(self, queues: list[str]) -> None:
        workers = live_workers_here(queues)
        if not workers:
            serving = f" serving {', '.join(queues)}" if queues else ""
            raise CommandError(
                f"no worker of this machine{serving} is alive (a heartbeat in the last "
                f"{HEARTBEAT_FRESH} s and a running process)"
            )
        for worker in workers:
            serves = ", ".join(worker.queue_names())
            self.stdout.write(f"ok: worker {worker.name} (pid {worker.pid}) on {serves}")

    def _scheduler(self) -> None:
        pids = live_schedulers_here()
        if not pids:
            raise CommandError(
                f"no scheduler of this machine is alive (a heartbeat in the last {SCHEDULER_TTL} s "
                "and a running process)"
            )
        self.stdout.write(f"ok: scheduler pid {', '.join(map(str, pids))}")
