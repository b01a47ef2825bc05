"""What the management commands of every app share: finding the organization named by `--org`."""

from __future__ import annotations

from django.core.management.base import CommandError

from channels_app.models import Organization


def organization_named(slug: str) -> Organization:
    """The organization of `slug`, or a CommandError that says how to create it: a newcomer's
    first command names an organization nothing has made yet."""
    organization = Organization.objects.filter(slug=slug).first()
    if organization is None:
        raise CommandError(no_organization(slug))
    return organization


def no_organization(*slugs: str) -> str:
    names = ", ".join(repr(slug) for slug in slugs)
    create = "; ".join(f"python manage.py create_org {slug}" for slug in slugs)
    return f"no organization {names}: create it first with `{create}` (or in the admin, Organizations)"
