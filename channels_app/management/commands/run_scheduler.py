import logging
import signal
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from redis.exceptions import RedisError

from config.health import SCHEDULER_BEAT, scheduler_heartbeat, scheduler_stopped
from config.jobs import enqueue_unique
from config.queues import get_queue
from config.schedule import SCHEDULE

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Enqueue the hub's periodic jobs (config/schedule.py) on time. Several schedulers may run: "
        "each period's job id is deterministic, so a period is enqueued once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Enqueue what is due now, then exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        self.running = True
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        logger.info("scheduler started with %s periodic jobs", len(SCHEDULE))
        last_period: dict[str, int] = {}
        last_beat = 0.0
        connection = get_queue("housekeeping").connection
        while self.running:
            now = time.time()
            if now - last_beat >= SCHEDULER_BEAT:
                try:
                    scheduler_heartbeat(connection)  # what `manage.py healthcheck scheduler` reads
                    last_beat = now
                except RedisError as exc:
                    logger.warning("scheduler heartbeat not sent, Redis unavailable: %s", exc)
            for task in SCHEDULE:
                period = int(now // task.every)
                if last_period.get(task.name) == period:
                    continue
                try:
                    # False: another scheduler enqueued this period's job.
                    if enqueue_unique(task.queue, task.func, job_id=f"{task.name}-{period}", retry=False):
                        logger.info("enqueued %s for period %s", task.name, period)
                except RedisError as exc:
                    logger.warning("cannot enqueue %s, Redis unavailable: %s", task.name, exc)
                    continue  # The period is not marked done, so the next tick tries again.
                last_period[task.name] = period
            if options["once"]:
                break
            time.sleep(1)
        try:
            scheduler_stopped(connection)
        except RedisError:
            pass  # Its heartbeat expires by itself, so the health check sees it gone anyway.

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.running = False
