#!/usr/bin/env python
import os
import sys

from django.conf import settings
from django.core.management import execute_from_command_line

from config.embedded import ensure_running

# Commands that never touch Redis do not start the embedded server.
NO_REDIS_COMMANDS = {
    "check",
    "collectstatic",
    "createsuperuser",
    "dbshell",
    "makemigrations",
    "migrate",
    "showmigrations",
    "sqlmigrate",
    "help",
    "version",
    "ensure_admin",
    "create_org",
    "create_staff",
}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if settings.REDIS_IS_EMBEDDED and command not in NO_REDIS_COMMANDS:
        ensure_running(settings.EMBEDDED_REDIS_DIR)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
