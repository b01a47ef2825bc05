"""Products and variants imported from a channel: SKUs and the channel's variant mapping.

A variant becomes (or finds) the organization's SKU of the same code; a variant without a code
gets one made from the platform and its variant id, so it is still mapped and can be renamed
later. Each product's SKUs share one Product (the first one found, else a new one).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db import transaction

from inventory.models import SKU, ChannelVariant, Product


@dataclass(frozen=True)
class VariantData:
    external_id: str
    sku: str
    title: str = ""
    inventory_item_id: str = ""


@dataclass(frozen=True)
class ProductData:
    external_id: str
    title: str
    variants: tuple[VariantData, ...]


def products_upsert(
    *, channel_id: int, organization_id: int, platform: str, products: list[ProductData]
) -> Counter[str]:
    """Upsert one page of a channel's products in one transaction; counts of what changed."""
    counts: Counter[str] = Counter()
    with transaction.atomic():
        for product in products:
            _product_upsert(channel_id, organization_id, platform, product, counts)
    return counts


def _product_upsert(
    channel_id: int, organization_id: int, platform: str, product: ProductData, counts: Counter[str]
) -> None:
    counts["products"] += 1
    codes = {v.external_id: _code(platform, v, counts) for v in product.variants}
    existing = {
        sku.code: sku for sku in SKU.objects.filter(organization_id=organization_id, code__in=codes.values())
    }
    owner = next((sku.product for sku in existing.values() if sku.product_id), None) or _mapped_product(
        channel_id, product.external_id
    )
    if owner is None:
        owner = Product.objects.create(organization_id=organization_id, title=product.title[:255])
        counts["products_created"] += 1
    for variant in product.variants:
        code = codes[variant.external_id]
        title = (
            f"{product.title} - {variant.title}"
            if variant.title and variant.title != "Default Title"
            else product.title
        )
        sku = existing.get(code)
        if sku is None:
            # A concurrent import of the same code (another channel's) may create it first; then
            # get_or_create reads that SKU, and both channels map to it.
            sku, created = SKU.objects.get_or_create(
                organization_id=organization_id, code=code, defaults={"title": title[:255], "product": owner}
            )
            counts["skus_created" if created else "skus_existing"] += 1
        else:
            counts["skus_existing"] += 1
        if sku.product_id is None:
            SKU.objects.filter(pk=sku.pk).update(product=owner)
        _, created = ChannelVariant.objects.update_or_create(
            channel_id=channel_id,
            external_variant_id=variant.external_id,
            defaults={
                "sku": sku,
                "external_product_id": product.external_id,
                "external_inventory_item_id": variant.inventory_item_id,
            },
        )
        counts["variants_mapped" if created else "variants_updated"] += 1


def _mapped_product(channel_id: int, external_product_id: str) -> Product | None:
    """The product already made for this channel product (its variants can span API pages)."""
    variant = (
        ChannelVariant.objects.filter(
            channel_id=channel_id, external_product_id=external_product_id, sku__product__isnull=False
        )
        .select_related("sku__product")
        .first()
    )
    return variant.sku.product if variant is not None else None


def _code(platform: str, variant: VariantData, counts: Counter[str]) -> str:
    """The variant's SKU code; one made from the platform and variant id when it has none, or one
    longer than the hub keeps (Shopify allows 255 characters, the hub 100)."""
    code = variant.sku.strip()
    if len(code) > SKU._meta.get_field("code").max_length:  # type: ignore[operator]
        counts["sku_codes_too_long"] += 1
        code = ""
    return code or f"{platform}-{variant.external_id}"


def variant_map(
    *, channel_id: int, sku_id: int, variant_id: str, product_id: str = "", inventory_item_id: str = ""
) -> ChannelVariant:
    """Map the channel's variant to the SKU a merchant chose (the variant picker, the needs-mapping
    screen): a variant maps to one SKU, so choosing again moves it."""
    variant, _ = ChannelVariant.objects.update_or_create(
        channel_id=channel_id,
        external_variant_id=variant_id,
        defaults={
            "sku_id": sku_id,
            "external_product_id": product_id,
            "external_inventory_item_id": inventory_item_id,
        },
    )
    return variant
