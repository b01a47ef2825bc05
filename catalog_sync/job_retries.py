"""How a retry of catalog_sync's failed jobs brings back what they work on, for the ops console's
failed-jobs page (named by dotted path in config.ops.failed_jobs.RETRIES)."""

from catalog_sync.models import CatalogSyncRun
from catalog_sync.pipeline import RunRestart, run_restart
from config.ops.failed_jobs import RetryPlan

NOTES = {
    RunRestart.REOPENED: "reopened {run}",
    RunRestart.STARTED: "started {run} ({closed} stays as it ended)",
    RunRestart.JOINED: "{run} was under way already",
    RunRestart.OPEN: "",
}


def run_job_retry(run_id: object, *, requested_by: str = "") -> RetryPlan:
    """A supplier step's retry: its run reopened, else a new run started or the open one joined
    (whose own job does the work, so the failed one is not run again)."""
    if not isinstance(run_id, int) or not CatalogSyncRun.objects.filter(pk=run_id).exists():
        return RetryPlan()
    run, restart = run_restart(run_id=run_id, requested_by=requested_by)
    note = NOTES[restart].format(run=run, closed=f"catalog run #{run_id}")
    return RetryPlan(requeue=restart in (RunRestart.REOPENED, RunRestart.OPEN), note=note)
