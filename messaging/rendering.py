"""Message templates: Django's template language, in a sandbox.

The engine has no template loaders, no libraries to `load`, and only the tags and filters of
`messaging.sandbox`; the context is plain data (JSON values): a template reads what it is given
and nothing else. Its loops run under a budget (messaging.sandbox). A message is at most 1,600
characters. An error is a readable TemplateError, never a crash.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from django.template import Context, Engine, TemplateDoesNotExist, TemplateSyntaxError

from messaging.sandbox import budgeted


class TemplateError(Exception):
    permanent = True


MAX_LENGTH = 1600  # Characters: Twilio's limit for one message (10 segments).
# What the admin previews a template with, and estimates a campaign's segments from.
SAMPLE = {
    "contact": {"name": "Wile E. Coyote", "phone": "+14155550123"},
    "order": {"number": "#1001", "total": "80.00", "currency": "USD", "customer_name": "Wile E. Coyote"},
    "tracking": {"number": "1Z999", "company": "UPS", "url": "https://ups.example/1Z999"},
}


class SandboxEngine(Engine):
    # Engine(builtins=...) only adds to Django's defaults: the defaults themselves are replaced.
    default_builtins = ["messaging.sandbox"]


@cache
def _engine() -> Engine:
    return SandboxEngine(
        loaders=[("django.template.loaders.locmem.Loader", {})], libraries={}, autoescape=False
    )


def render(template: str, context: dict[str, Any]) -> str:
    """The message text; TemplateError says what is wrong with the template."""
    # Data only, through JSON: a template reaches no object and calls no method.
    plain = json.loads(json.dumps(context, default=str))
    try:
        compiled = _engine().from_string(template)
        text = compiled.render(budgeted(Context(plain, autoescape=False))).strip()
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template error: {exc}") from None
    except TemplateDoesNotExist as exc:
        raise TemplateError(f"template error: no template {exc} (templates cannot include others)") from None
    except Exception as exc:  # A filter given the wrong kind of value, for one: the merchant's to fix.
        raise TemplateError(f"template error: {type(exc).__name__}: {exc}") from None
    if len(text) > MAX_LENGTH:
        raise TemplateError(f"template error: the message is {len(text)} characters, over {MAX_LENGTH}")
    if not text:
        raise TemplateError("template error: the message is empty")
    return text
