"""Catalog products pushed to the stores that asked for them (Channel.push_catalog).

A product a catalog sync created or changed is pushed, on the `catalog-push` queue, to every active
channel of its organization with the flag on; otherwise the catalog stays in the hub. The store's
own listings are left alone: a product whose SKUs the channel already sells (mapped by a product
import) is skipped, with the reason on its listing. What was pushed is remembered (a hash), so a
push of an unchanged product sends nothing; the pushed variants are mapped, so the store's orders
and stock resolve to the catalog's SKUs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import combinations

from django.db import transaction
from django.utils import timezone

from catalog_sync.models import FamilyImage, ImageStatus, ListingStatus, ProductListing
from catalog_sync.queueing import enqueue_job, enqueue_on_commit, job_gone
from channels_app import http
from channels_app.clients import CLIENTS, ConsoleOnly, Listing, ListingVariant, client_for
from channels_app.models import Channel
from config.workers import job_will_retry
from inventory.models import SKU, ChannelVariant, Product

logger = logging.getLogger(__name__)

CENTS = Decimal("0.01")
MAX_OPTIONS = 3  # Shopify's limit of options per product
# Attributes named so are identifiers or measures, never a store option.
IDENTIFIER_WORDS = {"ean", "gtin", "upc", "isbn", "mpn", "barcode", "sku", "article", "weight", "id"}
PUSH_JOB = "catalog_sync.jobs.push_listing"
PUSH_ALL_JOB = "catalog_sync.jobs.push_catalog"


def _pushing_channels(organization_id: int) -> list[int]:
    return list(
        Channel.objects.filter(
            organization_id=organization_id, push_catalog=True, is_active=True, platform__in=CLIENTS
        ).values_list("pk", flat=True)
    )


def product_push_on_commit(organization_id: int, product_id: int | None) -> None:
    """In the caller's transaction: mark the product's listings on the channels that take the
    catalog as waiting, and push them once it commits (a push Redis lost is swept up later)."""
    channel_ids = _pushing_channels(organization_id) if product_id else []
    if channel_ids:
        assert product_id is not None
        listings_enqueue(product_id, channel_ids)


def listings_enqueue(product_id: int, channel_ids: list[int]) -> int:
    enqueued = 0
    for channel_id in channel_ids:
        listing, _ = ProductListing.objects.get_or_create(channel_id=channel_id, product_id=product_id)
        if listing.status in (ListingStatus.SKIPPED, ListingStatus.UNSUPPORTED):
            continue  # The store's own listing, or a platform the hub cannot list on: left alone.
        ProductListing.objects.filter(pk=listing.pk).update(
            status=ListingStatus.PENDING, updated_at=timezone.now()
        )
        enqueue_on_commit("catalog-push", PUSH_JOB, listing.pk, listing.job_id)
        enqueued += 1
    return enqueued


def listings_sweep(*, older_than: int = 120) -> int:
    """Enqueue the pushes still waiting whose job is gone (Redis was down, or lost it)."""
    stale = ProductListing.objects.filter(
        status=ListingStatus.PENDING,
        updated_at__lt=timezone.now() - timedelta(seconds=older_than),
        channel__push_catalog=True,
        channel__is_active=True,
    )
    swept = 0
    for listing in stale.iterator():
        if job_gone(listing.job_id, "catalog-push"):
            enqueue_job("catalog-push", PUSH_JOB, listing.pk, listing.job_id)
            swept += 1
    return swept


def channel_push_all_on_commit(sender: type[Channel], *, channel: Channel, **kwargs: object) -> None:
    """Connected to channels_app's `catalog_push_turned_on` (CatalogSyncConfig.ready): the store
    that just took the catalog is pushed every product so far once the change commits (later
    ones as they change)."""
    enqueue_on_commit("catalog-push", PUSH_ALL_JOB, channel.pk, f"push-catalog-{channel.pk}")


def channel_push_all(channel_id: int) -> int:
    """Push every catalog product of the channel's organization (the flag was just turned on)."""
    channel = Channel.objects.get(pk=channel_id)
    if not channel.push_catalog:
        return 0
    products = (
        Product.objects.filter(organization_id=channel.organization_id, families__isnull=False)
        .distinct()
        .values_list("pk", flat=True)
    )
    return sum(listings_enqueue(pk, [channel_id]) for pk in products.iterator())


class ListingPushed(StrEnum):
    """What a push of one listing did, as its job's result says (the listing's row says why)."""

    PUSHED = "pushed"
    UNCHANGED = "unchanged"  # the store has the product as the hub has it: nothing was sent
    NOT_TAKEN = "not taken"  # the channel no longer takes the catalog
    NO_SKUS = "no SKUs"
    SKIPPED = "skipped"  # the store's own listing of these SKUs, left alone
    UNSUPPORTED = "unsupported"  # the platform's API cannot list products
    FAILED = "failed"


def listing_push(listing_id: int) -> ListingPushed:
    """Send the product as the hub has it now to the listing's store, unless the store has it so."""
    listing = ProductListing.objects.select_related("channel", "product").get(pk=listing_id)
    channel, product = listing.channel, listing.product
    if not (channel.push_catalog and channel.is_active):
        _record(listing, status=ListingStatus.FAILED, error="the channel no longer takes the catalog")
        return ListingPushed.NOT_TAKEN
    skus = list(product.skus.order_by("code"))
    if not skus:
        _record(listing, status=ListingStatus.FAILED, error="the product has no SKUs")
        return ListingPushed.NO_SKUS
    mapped = dict(
        ChannelVariant.objects.filter(channel=channel, sku__in=skus).values_list(
            "sku__code", "external_variant_id"
        )
    )
    if not listing.external_product_id and mapped:
        _record(
            listing,
            status=ListingStatus.SKIPPED,
            error=f"already listed in the store ({len(mapped)} SKUs mapped): the hub leaves the store's "
            "own listing alone",
        )
        return ListingPushed.SKIPPED
    # Only images the hub could fetch and check: a store that fetches a broken URL refuses the
    # whole product (WooCommerce), and the supplier's URL is what the store can reach.
    images = list(
        FamilyImage.objects.filter(family__product=product, status=ImageStatus.STORED)
        .order_by("family_id", "position")
        .values_list("source_url", flat=True)
        .distinct()
    )
    images_hash = _digest(images)
    option_names, options = _options(skus)
    wanted = Listing(
        handle=f"hub-{product.pk}",
        title=product.title,
        description=product.description,
        option_names=option_names,
        variants=tuple(
            ListingVariant(
                sku=sku.code,
                price=None if sku.price is None else str(sku.price.quantize(CENTS, ROUND_HALF_UP)),
                options=options[sku.code],
                external_id=mapped.get(sku.code, ""),
            )
            for sku in skus
        ),
        images=tuple(images) if images_hash != listing.images_hash else None,
        external_id=listing.external_product_id,
    )
    content_hash = _digest(
        [
            wanted.title,
            wanted.description,
            wanted.option_names,
            [(v.sku, v.price, v.options) for v in wanted.variants],
        ]
        + [images_hash]
    )
    if content_hash == listing.pushed_hash:
        _record(listing, status=ListingStatus.PUSHED, error="")
        return ListingPushed.UNCHANGED
    try:
        pushed = client_for(channel).push_listing(wanted)
    except ConsoleOnly as exc:
        _record(listing, status=ListingStatus.UNSUPPORTED, error=str(exc))
        return ListingPushed.UNSUPPORTED
    except http.PlatformError as exc:
        if not exc.permanent and job_will_retry(exc):
            raise
        _record(listing, status=ListingStatus.FAILED, error=str(exc))
        if exc.permanent:
            return ListingPushed.FAILED
        raise  # Out of retries: raised so that ops see it among the failed jobs too.
    by_code = {sku.code: sku for sku in skus}
    with transaction.atomic():
        for code, (variant_id, inventory_item_id) in pushed.variants.items():
            if code in by_code and variant_id:
                ChannelVariant.objects.update_or_create(
                    channel=channel,
                    external_variant_id=variant_id,
                    defaults={
                        "sku": by_code[code],
                        "external_product_id": pushed.external_id,
                        "external_inventory_item_id": inventory_item_id,
                    },
                )
        _record(
            listing,
            status=ListingStatus.PUSHED,
            error="",
            external_product_id=pushed.external_id,
            pushed_hash=content_hash,
            images_hash=images_hash,
            pushed_at=timezone.now(),
        )
    logger.info(
        "catalog product %s pushed to channel %s as %s",
        product.pk,
        channel.pk,
        pushed.external_id,
        extra={"channel_id": channel.pk, "product_id": product.pk},
    )
    return ListingPushed.PUSHED


def _record(listing: ProductListing, **fields: object) -> None:
    ProductListing.objects.filter(pk=listing.pk).update(updated_at=timezone.now(), **fields)


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _options(skus: list[SKU]) -> tuple[tuple[str, ...], dict[str, tuple[tuple[str, str], ...]]]:
    """The store options that tell the variants apart: the fewest supplier attributes (at most
    three, Shopify's limit) whose values together differ for every variant, never identifiers or
    measures (EAN, weight: unique per variant, but not what a customer chooses); else one
    "Variant" option of their titles (or codes). A single variant has none."""
    if len(skus) == 1:
        return (), {skus[0].code: ()}
    names = sorted(
        {
            key
            for sku in skus
            for key, value in sku.attributes.items()
            if value not in (None, "") and not IDENTIFIER_WORDS & set(re.split(r"[^a-z0-9]+", key.lower()))
        }
    )
    distinct = {n: len({str(sku.attributes.get(n, "")) for sku in skus}) for n in names}
    varying = sorted((n for n in names if distinct[n] > 1), key=lambda n: (distinct[n], n))
    for size in range(1, MAX_OPTIONS + 1):
        for chosen in combinations(varying, size):
            combos = {sku.code: tuple((n, str(sku.attributes.get(n, "-"))) for n in chosen) for sku in skus}
            if len(set(combos.values())) == len(skus):
                return chosen, combos
    titles = [sku.title or sku.code for sku in skus]
    values = titles if len(set(titles)) == len(titles) else [sku.code for sku in skus]
    return ("Variant",), {sku.code: (("Variant", value),) for sku, value in zip(skus, values, strict=True)}
