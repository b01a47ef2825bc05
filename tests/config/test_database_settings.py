"""Which processes have PostgreSQL keep their statements' plans (config.settings): the workers,
which run the same statements for every event, and not the web, whose intake sends its time
bounds in each statement's own round trip (client-side binding)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
POSTGRES = "postgres://hub@127.0.0.1:5432/hub"  # read, never connected to


def database_options(argv: list[str], **env: str) -> dict:
    """OPTIONS of the default database in a fresh process started as `argv` (settings only)."""
    program = (
        f"import sys; sys.argv = {argv!r}; import django; django.setup(); "
        "from django.conf import settings; import json; "
        "print(json.dumps(settings.DATABASES['default'].get('OPTIONS', {})))"
    )
    base = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "config.settings", "HOME": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", program],
        env=base | {"DATABASE_URL": POSTGRES} | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def test_a_worker_binds_server_side_and_prepares_its_frequent_statements():
    options = database_options(["manage.py", "rqworker", "webhooks"])
    assert options["server_side_binding"] is True
    assert options["prepare_threshold"] == 5


@pytest.mark.parametrize(
    "argv", [["gunicorn", "config.wsgi"], ["manage.py", "migrate"]], ids=["gunicorn", "migrate"]
)
def test_the_web_and_commands_keep_client_side_binding(argv):
    options = database_options(argv)
    assert "server_side_binding" not in options
    assert "prepare_threshold" not in options  # Django's default: none prepared


def test_a_worker_behind_a_pooler_that_cannot_keep_them_prepares_none():
    options = database_options(["manage.py", "rqworker", "webhooks"], DB_PREPARED_STATEMENTS="False")
    assert "server_side_binding" not in options and "prepare_threshold" not in options
