"""One API client per platform behind one interface, resolved lazily by platform name.

A client is built for one channel and speaks through `channels_app.http` (rate limit, timeouts,
retries, logs). Each raises `http.PlatformError` with `permanent` set for what cannot work.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from django.utils.module_loading import import_string

from inventory.catalog import ProductData

if TYPE_CHECKING:
    from channels_app.models import Channel

CLIENTS = {
    "shopify": "channels_app.platforms.shopify.client.ShopifyClient",
    "woocommerce": "channels_app.platforms.woocommerce.client.WooCommerceClient",
    "shopee": "channels_app.platforms.shopee.client.ShopeeClient",
}


class ConsoleOnly(Exception):
    """The platform has no API for this: its message says what to do in the platform's console."""

    permanent = True


@dataclass(frozen=True)
class RemoteWebhook:
    """A webhook subscription as the platform lists it."""

    topic: str  # in the hub's words (orders/create, order.updated)
    callback_url: str
    external_id: str
    active: bool = True
    api_version: str = ""  # that its payloads are shaped in, where the platform has versions


@dataclass(frozen=True)
class Polled:
    """A change found by polling, recorded as the webhook that would have carried it."""

    topic: str
    key: str  # the event identity: the same change polled twice is one event
    payload: dict[str, Any]


@dataclass(frozen=True)
class ChangesPage:
    """A page of polled changes, and where a run retried after it goes on from ("": its start)."""

    changes: list[Polled]
    resume: str = ""


@dataclass(frozen=True)
class Shipment:
    """A fulfillment to push: the platform's order and the tracking the merchant gave."""

    order_external_id: str
    tracking_number: str
    carrier: str
    tracking_url: str = ""


@dataclass(frozen=True)
class StockUpdate:
    """Set a variant's available units at a location (coalesced: the latest value)."""

    variant_id: str
    product_id: str
    inventory_item_id: str
    location: str  # "" for a channel with one stock
    available: int
    known: int | None  # what the channel showed last, as far as the hub knows
    idempotency_key: str


@dataclass(frozen=True)
class ProductPage:
    products: list[ProductData]
    total: int | None = None  # products in the whole catalogue, when the platform says
    resume: str = ""  # where the next page starts (a cursor, page or offset); "" after the last


@dataclass(frozen=True)
class ListingVariant:
    sku: str
    price: str | None  # a decimal string; None: the store keeps its own
    options: tuple[tuple[str, str], ...]  # (option name, value), in the listing's option order
    external_id: str = ""  # the store's variant id, once pushed


@dataclass(frozen=True)
class Listing:
    """A catalog product as a store should show it."""

    handle: str  # the hub's stable key: a lost answer retried finds what the first call made
    title: str
    description: str
    option_names: tuple[str, ...]
    variants: tuple[ListingVariant, ...]
    images: tuple[str, ...] | None  # public URLs; None leaves the store's images as they are
    external_id: str = ""  # the store's product id, once pushed


@dataclass(frozen=True)
class RemoteVariant:
    """A variant as the channel lists it, for a merchant to pick when mapping a SKU to it."""

    variant_id: str
    product_id: str
    title: str  # the product's title, and the variant's own where it has one
    sku: str
    inventory_item_id: str = ""  # where the platform keeps stock by inventory item (Shopify)


# At most this many variants are offered for one search: the merchant narrows it down further.
VARIANT_CHOICES = 50


@dataclass(frozen=True)
class PushedListing:
    external_id: str
    variants: dict[str, tuple[str, str]]  # sku -> (variant id, inventory item id)


class PlatformClient(Protocol):
    # True: the channel shows stock per location, and each location mapped to a warehouse is
    # pushed its own figure. False: it shows one stock, that of the warehouse its orders ship from.
    stock_locations: ClassVar[bool]

    def __init__(self, channel: Channel) -> None: ...

    @classmethod
    def credentials_missing(cls, channel: Channel) -> list[str]:
        """What the channel lacks to call the API, as create_channel's option names without their
        dashes (`access_token`); empty when nothing is."""
        ...

    def verify(self) -> str:
        """One cheap authenticated call; what it proved (the shop's name)."""
        ...

    def fetch_products(self, resume: str = "") -> Iterator[ProductPage]:
        """Every product with its variants, a page at a time (from `resume`, a page's own)."""
        ...

    def fetch_variants(self, search: str = "", *, inventory_item: str = "") -> list[RemoteVariant]:
        """Up to VARIANT_CHOICES variants whose title or SKU matches `search` (any, when blank);
        with `inventory_item`, the variant of that inventory item (none where the platform has none)."""
        ...

    def fetch_changes(self, since: datetime, *, stock: bool, resume: str = "") -> Iterator[ChangesPage]:
        """Orders updated since then, and with `stock` stock levels (all of them where the platform
        cannot say which changed), a page at a time."""
        ...

    def push_fulfillment(self, shipment: Shipment) -> str:
        """Mark the order shipped with its tracking, once (safe to call again); the platform's id."""
        ...

    def push_stock(self, update: StockUpdate) -> datetime | None:
        """Make the channel show `available` units of the variant (at the location); when the
        channel made the change by its own clock, where its answer says (else None)."""
        ...

    def push_listing(self, listing: Listing) -> PushedListing:
        """Create or update the product in the store (safe to call again with the same handle)."""
        ...

    def fetch_webhooks(self) -> list[RemoteWebhook]:
        """The hub's webhook subscriptions on the platform (raises for a console-only platform)."""
        ...

    def push_webhook(self, topic: str, callback_url: str, existing: RemoteWebhook | None) -> RemoteWebhook:
        """Subscribe to `topic` (or switch a disabled subscription back on)."""
        ...


def client_class(platform: str) -> type[PlatformClient]:
    """The platform's client class, for what it says about the platform without a channel."""
    cls: type[PlatformClient] = import_string(CLIENTS[platform])
    return cls


def credentials_problem(channel: Channel) -> str:
    """Why the hub cannot call the channel's API, in words a merchant can act on; "" when it can
    (or when the platform has no API to call: a carrier only sends webhooks)."""
    if channel.platform not in CLIENTS:
        return ""
    missing = client_class(channel.platform).credentials_missing(channel)
    if not missing:
        return ""
    names = " and ".join(name.replace("_", " ") for name in missing)
    options = " ".join(f"--{name.replace('_', '-')} …" for name in missing)
    return (
        f"{channel.get_platform_display()} channel {channel.pk} ({channel.shop_identifier}) has no {names}: "
        f"set it on the channel's page in the admin, or run `python manage.py create_channel` for this "
        f"shop again with {options}"
    )


def client_for(channel: Channel) -> PlatformClient:
    if channel.platform not in CLIENTS:
        # A carrier's tracking account: it only sends webhooks.
        raise ConsoleOnly(
            f"{channel.get_platform_display()} only sends webhooks to the hub: enter {channel.webhook_url} "
            "as the webhook URL in its dashboard, with this channel's webhook secret"
        )
    return client_class(channel.platform)(channel)
