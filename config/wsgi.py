import logging
import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from config.slowclients import BodyDeadline

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_wsgi_application()


def _body_timeout() -> float:
    return float(settings.HUB_REQUEST_BODY_TIMEOUT)


def _warn_about_development_secrets() -> None:
    """Once per serving process: management commands import the settings, not this module."""
    if settings.DEV_SECRETS_WARNING:
        logging.getLogger("config.wsgi").warning(settings.DEV_SECRETS_WARNING)


_warn_about_development_secrets()
application = BodyDeadline(django_application, _body_timeout)
