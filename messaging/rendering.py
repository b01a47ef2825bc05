"""Message templates: Django's template language, in a sandbox.

The engine has no template loaders (no `include` or `extends` of files), no libraries to `load`,
and the context is plain data (JSON values): a template can read what it is given and nothing
else, never call a method of a model. An error is a readable TemplateError, never a crash.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from django.template import Context, Engine, TemplateDoesNotExist, TemplateSyntaxError


class TemplateError(Exception):
    permanent = True


@cache
def _engine() -> Engine:
    return Engine(loaders=[("django.template.loaders.locmem.Loader", {})], libraries={}, autoescape=False)


def render(template: str, context: dict[str, Any]) -> str:
    """The message text; TemplateError says what is wrong with the template."""
    plain = json.loads(json.dumps(context, default=str))  # data only: no objects, no methods
    try:
        compiled = _engine().from_string(template)
        return compiled.render(Context(plain, autoescape=False)).strip()
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template error: {exc}") from None
    except TemplateDoesNotExist as exc:
        raise TemplateError(f"template error: no template {exc} (templates cannot include others)") from None
    except Exception as exc:  # a filter given the wrong kind of value, ...
        raise TemplateError(f"template error: {type(exc).__name__}: {exc}") from None
