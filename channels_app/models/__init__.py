"""The models of channels_app, one module per concern; Django and every caller import them from here.

- `tenancy`: organizations, their channels (one connected store or account each), and locations;
- `events`: accepted webhook deliveries, and the webhook subscriptions that bring them;
- `syncs`: runs of long work against a channel's API, with their progress.
"""

from channels_app.models.events import (
    ClaimLost,
    EventStatus,
    MappingKind,
    ProcessedWebhookEvent,
    SubscriptionState,
    WebhookSubscription,
)
from channels_app.models.syncs import SyncKind, SyncRun, SyncStatus
from channels_app.models.tenancy import (
    CARRIERS,
    SHOPIFY_SHOP,
    SMS_PROVIDERS,
    Channel,
    ChannelLocation,
    Organization,
    Platform,
)

__all__ = [
    "CARRIERS",
    "SHOPIFY_SHOP",
    "SMS_PROVIDERS",
    "Channel",
    "ChannelLocation",
    "ClaimLost",
    "EventStatus",
    "MappingKind",
    "Organization",
    "Platform",
    "ProcessedWebhookEvent",
    "SubscriptionState",
    "SyncKind",
    "SyncRun",
    "SyncStatus",
    "WebhookSubscription",
]
