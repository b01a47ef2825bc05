"""Helpers the channel tests share: a sync run started and worked through on burst workers."""

from __future__ import annotations

from channels_app.sync import sync_start


def run_sync(run_worker, django_capture_on_commit_callbacks, **start):
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_start(**start)
    with django_capture_on_commit_callbacks(execute=True):  # the events it records, enqueued
        run_worker("channel-sync")
    run_worker("webhooks")
    run.refresh_from_db()
    return run
