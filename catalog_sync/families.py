"""A family job (`catalog-family`, three workers): one family's product, SKUs, history, images.

The supplier step hands out, one job each, the families whose content hash differs from the hash
their product was last written from. A job writes the product and its SKUs, its history entry
and its image links in one transaction and sets the written hash, so a worker killed mid-family
leaves nothing half-written, and a retry or a second job of the same family finds it done. The
images not stored yet are handed out after the commit, and a changed product is pushed to the
stores that take the catalog.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import transaction
from django.utils import timezone

from catalog_sync.images import IMAGE_JOB, image_job_id, images_link
from catalog_sync.models import ChangeAction, FamilyChange, FeedRecord, ProductFamily
from catalog_sync.push import product_push_on_commit
from catalog_sync.queueing import enqueue_job
from catalog_sync.runs import run_counters_add, run_finish_if_done
from config.workers import job_will_retry
from inventory.models import SKU, Product

FAMILY_JOB = "catalog_sync.jobs.apply_family"


def family_job_id(family: ProductFamily) -> str:
    key = f"{family.supplier_id}:{family.family_key}:{family.content_hash}".encode()
    return f"family-{family.supplier_id}-{hashlib.sha256(key).hexdigest()[:32]}"


def family_job(family_id: int) -> list[str]:
    """Write one family's product, as its job: images not stored yet are enqueued."""
    try:
        urls, run_id = family_apply(family_id)
    except BaseException as exc:
        if not job_will_retry(exc):
            family_failed(family_id, f"{type(exc).__name__}: {exc}")
        raise
    for url in urls:
        enqueue_job("catalog-images", IMAGE_JOB, url, image_job_id(url))
    run_finish_if_done(run_id)
    return urls


def family_failed(family_id: int, error: str) -> None:
    """The family could not be written and will not be retried: its run stops waiting for it."""
    with transaction.atomic():
        family = ProductFamily.objects.select_for_update().filter(pk=family_id).first()
        if family is None or family.applied_hash == family.content_hash or family.error:
            return
        ProductFamily.objects.filter(pk=family_id).update(error=error[:2000])
        run_counters_add(family.run_id, families_failed=1)
    run_finish_if_done(family.run_id)


class FamilyConflict(Exception):
    """The family's SKUs belong to another family's product (another supplier of the same SKU)."""


def family_apply(family_id: int) -> tuple[list[str], int | None]:
    """Write the family's product and SKUs from its records, its history and its image links, in
    one transaction. The image URLs to fetch, and the run the family counted for. A family that
    would take another family's SKUs is not written: it fails with the reason."""
    try:
        return _family_write(family_id)
    except FamilyConflict as exc:
        family_failed(family_id, str(exc))
        run_id = ProductFamily.objects.filter(pk=family_id).values_list("run_id", flat=True).first()
        return [], run_id


def _family_write(family_id: int) -> tuple[list[str], int | None]:
    with transaction.atomic():
        family = (
            ProductFamily.objects.select_for_update().select_related("supplier").filter(pk=family_id).first()
        )
        if family is None or family.applied_hash == family.content_hash:
            # Written already, by this job before a retry or by a second job of the family.
            return [], None
        variants = sorted(
            FeedRecord.objects.filter(family=family).values_list("data", flat=True), key=lambda v: v["sku"]
        )
        if not variants:
            ProductFamily.objects.filter(pk=family.pk).update(applied_hash=family.content_hash)
            run_counters_add(family.run_id, families_done=1)
            return [], family.run_id
        created, changes = _product_write(family, variants)
        urls, image_counts = images_link(family, variants, changes)
        ProductFamily.objects.filter(pk=family.pk).update(
            applied_hash=family.content_hash, product=family.product, error="", updated_at=timezone.now()
        )
        if created or changes:
            FamilyChange.objects.create(
                family=family,
                run_id=family.run_id,
                action=ChangeAction.CREATED if created else ChangeAction.UPDATED,
                content_hash=family.content_hash,
                changes=changes,
            )
        run_counters_add(
            family.run_id,
            families_done=1,
            products_created=int(created),
            products_updated=int(not created and bool(changes)),
            **image_counts,
        )
        if created or changes:
            product_push_on_commit(family.supplier.organization_id, family.product_id)
    return urls, family.run_id


def _product_write(family: ProductFamily, variants: list[dict[str, Any]]) -> tuple[bool, dict[str, Any]]:
    """Create or update the family's product and SKUs; whether the product is new, and the
    changes as {"product": {field: [before, after]}, "skus": {code: {field: [before, after]} or
    "added"}}."""
    organization_id = family.supplier.organization_id
    codes = [v["sku"] for v in variants]
    skus = {
        s.code: s
        for s in SKU.objects.select_for_update().filter(organization_id=organization_id, code__in=codes)
    }
    owners = {
        product_id: f"family {key} of supplier {code}"
        for product_id, key, code in ProductFamily.objects.filter(
            product_id__in={s.product_id for s in skus.values() if s.product_id}
        )
        .exclude(pk=family.pk)
        .values_list("product_id", "family_key", "supplier__code")
    }
    for taken in skus.values():
        if taken.product_id in owners:
            raise FamilyConflict(f"SKU {taken.code} belongs to the product of {owners[taken.product_id]}")
    # The merchant's own product of these SKUs (one no family writes) becomes the family's.
    product = family.product or next((s.product for s in skus.values() if s.product_id), None)
    title = family_title(variants)
    description = next((v["description"] for v in variants if v["description"]), "")
    changes: dict[str, Any] = {}
    created = product is None
    if product is None:
        product = Product.objects.create(
            organization_id=organization_id, title=title, description=description
        )
    else:
        product_changes = _diff(product, {"title": title, "description": description})
        if product_changes:
            Product.objects.filter(pk=product.pk).update(updated_at=timezone.now(), **_after(product_changes))
            changes["product"] = product_changes
    family.product = product
    sku_changes: dict[str, Any] = {}
    new: list[SKU] = []
    for variant in variants:
        wanted = {
            "title": variant["name"],
            "price": variant["price"],
            "currency": variant["currency"],
            "attributes": variant["attributes"],
            "product_id": product.pk,
        }
        sku = skus.get(variant["sku"])
        if sku is None:
            new.append(SKU(organization_id=organization_id, code=variant["sku"], **wanted))
            sku_changes[variant["sku"]] = "added"
            continue
        diff = _diff(sku, wanted)
        if diff:
            SKU.objects.filter(pk=sku.pk).update(**_after(diff))
            sku_changes[sku.code] = diff
    SKU.objects.bulk_create(new)
    if sku_changes:
        changes["skus"] = sku_changes
    return created, changes


# What may end a title's shared words without belonging to it: "Trail shirt -" of "Trail shirt - blue".
TITLE_SEPARATORS = " -–—,;:/|·"


def family_title(variants: list[dict[str, Any]]) -> str:
    """The product's title, which the stores show: the feed's family name when a variant gives one,
    else the words the variants' names begin with alike ("Trail shirt" of "Trail shirt blue" and
    "Trail shirt green"), else (a single variant, or names with nothing in common) the first name."""
    named = next((v["family_name"] for v in variants if v.get("family_name")), "")
    if named:
        return named
    names = [v["name"].split() for v in variants]
    shared: list[str] = []
    for words in zip(*names, strict=False):
        if any(word.casefold() != words[0].casefold() for word in words):
            break
        shared.append(words[0])
    if len(variants) > 1:
        # "Mug size" of "Mug size 0" and "Mug size 1": the name of what tells them apart goes too.
        attributes = {name.casefold() for v in variants for name in v["attributes"]}
        while shared and shared[-1].rstrip(TITLE_SEPARATORS).casefold() in attributes | {""}:
            shared.pop()
    title = " ".join(shared).rstrip(TITLE_SEPARATORS)
    return title or variants[0]["name"]


def _diff(instance: Any, wanted: dict[str, Any]) -> dict[str, list[Any]]:
    """What differs between the instance and `wanted`, as {field: [before, after]}; prices are
    compared as decimals and shown as strings."""
    diff: dict[str, list[Any]] = {}
    for name, value in wanted.items():
        current = getattr(instance, name)
        if name == "price":
            before = None if current is None else f"{current:.4f}"
            if before != value:
                diff[name] = [before, value]
        elif current != value:
            diff[name] = [current, value]
    return diff


def _after(diff: dict[str, list[Any]]) -> dict[str, Any]:
    return {name: after for name, (_, after) in diff.items()}
