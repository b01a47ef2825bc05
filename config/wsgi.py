import os

from django.core.wsgi import get_wsgi_application

from config.slowclients import BodyDeadline

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_wsgi_application()


def _body_timeout() -> float:
    from django.conf import settings

    return float(settings.HUB_REQUEST_BODY_TIMEOUT)


application = BodyDeadline(django_application, _body_timeout)
