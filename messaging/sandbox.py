"""The only tags and filters message templates may use: Django's own, minus anything that reads
beyond the context (`load`, `include`, `extends`, `url`, `debug`) or can make a huge text from a
small template (`lorem`, `rjust`, `ljust`, `center`, `stringformat`, `floatformat`, `widthratio`).

Renders run under a budget (a merchant's template must not burn a web worker's CPU or memory: five
nested loops over 50-character strings are 300 million iterations, and `{% with a=a|add:a %}`
nested 35 deep is a string of 32 GB): every `for` charges its length to the render's budget before
it starts, every filter's result is at most MAX_VALUE_LENGTH long, and the render stops past
MAX_LOOP_ITERATIONS in all, or past MAX_RENDER_SECONDS.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from django.template import Context, Library, TemplateSyntaxError, defaultfilters, defaulttags
from django.template.base import Parser, Token

register = Library()

MAX_LOOP_ITERATIONS = 10_000  # a message loops over an order's lines, a few dozen at most
MAX_RENDER_SECONDS = 1.0
MAX_VALUE_LENGTH = 10_000  # characters (or items) a filter may make; a message is 1,600 at most


class BudgetExceeded(TemplateSyntaxError):
    """A render past its budget (a TemplateSyntaxError, so every caller reports it as one)."""


class RenderBudget:
    def __init__(self) -> None:
        self.iterations = 0
        self.deadline = time.monotonic() + MAX_RENDER_SECONDS

    def charge(self, iterations: int) -> None:
        self.iterations += iterations
        if self.iterations > MAX_LOOP_ITERATIONS:
            raise BudgetExceeded(
                f"its loops would run more than {MAX_LOOP_ITERATIONS:,} times (a message needs far fewer)"
            )
        if time.monotonic() > self.deadline:
            raise BudgetExceeded(f"it takes longer than {MAX_RENDER_SECONDS:g} s to render")


def budgeted(context: Context) -> Context:
    """`context` with a fresh budget: what every render of a message template goes through."""
    context.render_budget = RenderBudget()  # type: ignore[attr-defined]
    return context


class _Charged:
    """A `for` tag's sequence that charges its length to the render's budget when resolved."""

    def __init__(self, sequence: Any) -> None:
        self.sequence = sequence

    def resolve(self, context: Context, ignore_failures: bool = False) -> Any:
        values = self.sequence.resolve(context, ignore_failures=ignore_failures)
        budget: RenderBudget | None = getattr(context, "render_budget", None)
        if budget is None:
            raise BudgetExceeded("templates render only through messaging.rendering")
        budget.charge(len(values) if hasattr(values, "__len__") else 1)
        return values


@register.tag("for")
def do_for(parser: Parser, token: Token) -> defaulttags.ForNode:
    node = defaulttags.do_for(parser, token)
    node.sequence = _Charged(node.sequence)  # type: ignore[assignment]  # resolves as its sequence
    return node


TAGS = ("if", "empty", "with", "firstof", "comment", "now", "spaceless", "cycle", "ifchanged")
FILTERS = (
    "add", "capfirst", "cut", "date", "default", "default_if_none", "first", "join", "last",
    "length", "linebreaksbr", "lower", "pluralize", "slice", "time", "title", "truncatechars",
    "truncatewords", "upper", "urlencode", "yesno",
)  # fmt: skip

for name in TAGS:
    if name in defaulttags.register.tags:
        register.tags[name] = defaulttags.register.tags[name]


def _bounded(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` (a filter), refusing a result past MAX_VALUE_LENGTH: `add` and `join` double a
    value at each step of a `with` chain, with no loop to charge."""

    @functools.wraps(function)  # Keeps Django's flags on the filter (is_safe, needs_autoescape, ...).
    def filtered(*args: Any, **kwargs: Any) -> Any:
        value = function(*args, **kwargs)
        if isinstance(value, str | list | tuple) and len(value) > MAX_VALUE_LENGTH:
            raise BudgetExceeded(f"the filter {name} makes a value over {MAX_VALUE_LENGTH:,} long")
        return value

    return filtered


for name in FILTERS:
    register.filters[name] = _bounded(name, defaultfilters.register.filters[name])
