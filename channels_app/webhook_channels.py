"""What the intake needs of the channel a webhook names: its id, platform and secrets, cached.

The row is read once per HUB_WEBHOOK_CHANNEL_CACHE_SECONDS per process (channels_app.channel_cache),
not once per request. A signature that fails against kept secrets is checked once more against the
row, so a secret rotated in another process is accepted at once; a secret removed, or a channel
deleted, there stops being accepted within the cache's seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from channels_app import channel_cache
from channels_app.models import Channel


@dataclass(frozen=True)
class WebhookChannel:
    pk: int
    platform: str
    secrets: tuple[str, ...]
    lookup: tuple[tuple[str, object], ...]  # how it was found, to read it again

    def webhook_secrets(self) -> list[str]:
        return list(self.secrets)


def webhook_channel(platform: str, *, fresh: bool = False, **lookup: object) -> WebhookChannel | None:
    """The channel of `platform` that `lookup` names (shop_identifier=..., pk=...), or None."""
    key = tuple(sorted(lookup.items()))

    def load() -> WebhookChannel | None:
        fields = ("pk", "platform", "webhook_secret", "previous_webhook_secret")
        channel = Channel.objects.filter(platform=platform, **lookup).only(*fields).first()
        if channel is None:
            return None
        return WebhookChannel(channel.pk, channel.platform, tuple(channel.webhook_secrets()), key)

    return channel_cache.cached(("webhook", platform, key), load, fresh=fresh)


def verified(channel: WebhookChannel, verifies: Callable[[list[str]], bool]) -> WebhookChannel | None:
    """`channel` if one of its secrets verifies the request, else None; the row is read again
    first, since the secret may have been rotated in another process since it was kept."""
    if verifies(channel.webhook_secrets()):
        return channel
    fresh = webhook_channel(channel.platform, fresh=True, **dict(channel.lookup))
    if fresh is not None and fresh.secrets != channel.secrets and verifies(fresh.webhook_secrets()):
        return fresh
    return None
