"""The channels webhooks name, kept a few seconds per process.

Every webhook read its channel's row (and decrypted its secrets) before anything else: a query and
an ORM round per request for a row that changes a few times a year. Kept here for
HUB_WEBHOOK_CHANNEL_CACHE_SECONDS, a change made in another process (the admin's, a rotation, a
deletion) takes effect within that time, and one made in this process (Channel.save, delete,
deactivate) at once. Only channels that exist are kept: an unknown shop is asked for each time, so
a channel created a moment ago is known at once and made-up shops cannot fill the cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import TypeVar

from django.conf import settings

T = TypeVar("T")

# key -> (monotonic expiry, value). Plain dict operations: atomic under the GIL, so gunicorn's
# threads share it without a lock; two threads missing at once both load, which is harmless.
_entries: dict[Hashable, tuple[float, object]] = {}


def cached(key: Hashable, load: Callable[[], T | None], *, fresh: bool = False) -> T | None:
    """`load()`'s value for `key`, reused until it expires; `fresh` loads it again whatever is kept."""
    now = time.monotonic()
    entry = _entries.get(key)
    if entry is not None and entry[0] > now and not fresh:
        return entry[1]  # type: ignore[return-value]
    value = load()
    if value is None:
        _entries.pop(key, None)
    else:
        _entries[key] = (now + settings.HUB_WEBHOOK_CHANNEL_CACHE_SECONDS, value)
    return value


def forget_all() -> None:
    """A channel changed in this process: channel writes are rare, so every entry goes."""
    _entries.clear()
