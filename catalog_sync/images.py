"""Catalog images: linked to their families, fetched one job per URL, stored once per content.

- A family job links the family to its variants' images in its own transaction (`images_link`):
  an image already stored under that URL at once, the others pending.
- An image job (`catalog-images`, ten workers) downloads one URL with a size limit, checks that it
  is an image, stores it once per content digest, and links every family waiting for it. The
  pending rows say what is left, so a job run twice, or retried after its worker died, links them
  once; each row counts itself on its family's run.

Files go through Django's storage API (STORAGES["default"]), named by their SHA-256 so the same
picture behind two URLs, or two suppliers, is one file and one ImageAsset.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from catalog_sync.feed import FeedError, download
from catalog_sync.models import FamilyImage, ImageAsset, ImageStatus, ProductFamily
from catalog_sync.queueing import enqueue_on_commit
from catalog_sync.runs import run_counters_add, run_finish_if_done
from channels_app import http
from config.workers import job_will_retry

logger = logging.getLogger(__name__)

IMAGE_JOB = "catalog_sync.jobs.fetch_image"
_CALL = http.Call(platform="catalog image", channel_id=None, bucket=None)
# Decompression bombs: a small file that decodes to billions of pixels.
MAX_PIXELS = 100_000_000


# --- Downloading, checking, storing ------------------------------------------------------------


@dataclass(frozen=True)
class Picture:
    content: bytes
    digest: str
    content_type: str
    extension: str
    width: int
    height: int


def fetch(url: str) -> Picture:
    """The image at `url`. Raises PlatformError (4xx permanent; 5xx, timeouts not) and FeedError
    for what is not an image or is over CATALOG_IMAGE_MAX_BYTES."""
    content, _ = download(_CALL, url, limit=settings.CATALOG_IMAGE_MAX_BYTES)
    return inspect(content)


def inspect(content: bytes) -> Picture:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                width, height = image.size
                kind = image.format or ""
                if width * height > MAX_PIXELS:
                    raise FeedError(f"{width}x{height} pixels is more than an image may have")
                image.verify()  # Raises for a truncated or corrupt file, which open() does not read.
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise FeedError(f"not an image: {exc}"[:200]) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise FeedError(f"a damaged {kind or 'image'}: {exc}"[:200]) from None
    return Picture(
        content=content,
        digest=hashlib.sha256(content).hexdigest(),
        content_type=Image.MIME.get(kind, "application/octet-stream"),
        extension=kind.lower().replace("jpeg", "jpg") or "bin",
        width=width,
        height=height,
    )


def store(url: str, picture: Picture) -> tuple[ImageAsset, bool]:
    """The asset of the picture's content, and whether this call stored it (False: it was there)."""
    asset = ImageAsset.objects.filter(digest=picture.digest).first()
    if asset is not None:
        return asset, False
    name = f"catalog/images/{picture.digest[:2]}/{picture.digest}.{picture.extension}"
    # The file first, the row after: a row never names a file that is not there. A file whose
    # row did not commit is found by its name next time, and used only if it is whole (a worker
    # killed mid-write leaves a truncated one).
    if default_storage.exists(name) and not _holds(name, picture.digest):
        default_storage.delete(name)
    saved = name if default_storage.exists(name) else default_storage.save(name, ContentFile(picture.content))
    try:
        with transaction.atomic():
            asset = ImageAsset.objects.create(
                digest=picture.digest,
                source_url=url,
                file=saved,
                content_type=picture.content_type,
                size=len(picture.content),
                width=picture.width,
                height=picture.height,
            )
    except IntegrityError:
        # Another worker stored the same content meanwhile: keep theirs, and drop our copy.
        winner = ImageAsset.objects.get(digest=picture.digest)
        if saved != winner.file.name:
            default_storage.delete(saved)
        return winner, False
    return asset, True


def _holds(name: str, digest: str) -> bool:
    hasher = hashlib.sha256()
    with default_storage.open(name, "rb") as stored:
        for chunk in iter(lambda: stored.read(1024 * 1024), b""):
            hasher.update(chunk)
    return hasher.hexdigest() == digest


# --- A family's image links --------------------------------------------------------------------


def images_link(
    family: ProductFamily, variants: list[dict[str, Any]], changes: dict[str, Any]
) -> tuple[list[str], dict[str, int]]:
    """Link the family to its variants' images, in order: an image already stored (by URL) at
    once, the others pending for an image job. The URLs to fetch, and the run's image counts."""
    urls = list(dict.fromkeys(url for v in variants for url in v["images"]))
    rows = {row.source_url: row for row in FamilyImage.objects.filter(family=family)}
    gone = [row.pk for url, row in rows.items() if url not in urls]
    FamilyImage.objects.filter(pk__in=gone).delete()
    added = [url for url in urls if url not in rows]
    known = dict(
        FamilyImage.objects.filter(source_url__in=added, status=ImageStatus.STORED)
        .values_list("source_url", "asset_id")
        .distinct()
    )
    to_fetch: list[str] = []
    linked = 0
    for position, url in enumerate(urls):
        row = rows.get(url)
        if row is None:
            asset_id = known.get(url)
            status = ImageStatus.STORED if asset_id else ImageStatus.PENDING
            FamilyImage.objects.create(
                family=family,
                source_url=url,
                position=position,
                asset_id=asset_id,
                status=status,
                run_id=family.run_id,
            )
            if asset_id:
                linked += 1
            else:
                to_fetch.append(url)
            continue
        updates: dict[str, Any] = {}
        if row.position != position:
            updates["position"] = position
        # An image that failed, or whose job was lost, in an earlier run is tried again in this one.
        if row.status != ImageStatus.STORED:
            updates.update(status=ImageStatus.PENDING, run_id=family.run_id, error="")
            to_fetch.append(url)
        if updates:
            FamilyImage.objects.filter(pk=row.pk).update(**updates)
    if added or gone:
        changes["images"] = {"added": len(added), "removed": len(gone)}
    counts = {"images_total": len(to_fetch) + linked, "images_deduplicated": linked}
    return to_fetch, counts


# --- The image job -----------------------------------------------------------------------------


class ImageFetched(StrEnum):
    """What became of an image URL, as its job's result says."""

    STORED = "stored"
    DEDUPLICATED = "deduplicated"  # its content was stored already, from this URL or another
    FAILED = "failed"
    NOTHING_WAITING = "nothing waiting"  # no family waits for it (a second job, or a late retry)


def image_job_id(url: str) -> str:
    return f"image-{hashlib.sha256(url.encode()).hexdigest()[:40]}"


def image_job(url: str) -> ImageFetched:
    """Fetch and store one image URL, as its job; every family waiting for it is linked."""
    try:
        return image_fetch(url)
    except BaseException as exc:
        if not job_will_retry(exc):
            images_failed(url, f"{type(exc).__name__}: {exc}")
        raise


def image_fetch(url: str) -> ImageFetched:
    """Fetch and store the URL's image for every family waiting for it; what became of it."""
    waiting = FamilyImage.objects.filter(source_url=url, status=ImageStatus.PENDING)
    if not waiting.exists():
        return ImageFetched.NOTHING_WAITING
    FamilyImage.objects.filter(source_url=url, status=ImageStatus.PENDING).update(attempts=F("attempts") + 1)
    asset_id = (
        FamilyImage.objects.filter(source_url=url, status=ImageStatus.STORED)
        .values_list("asset_id", flat=True)
        .first()
    )
    new = False
    if asset_id is None:
        try:
            picture = fetch(url)
        except (FeedError, http.PlatformError) as exc:
            if not exc.permanent and job_will_retry(exc):
                raise  # rq tries again with its backoff; the rows stay pending meanwhile.
            images_failed(url, str(exc))
            return ImageFetched.FAILED
        asset, new = store(url, picture)
        asset_id = asset.pk
    # Link every row waiting for the URL, and again for rows families added meanwhile (their
    # enqueue found this job running): nothing is left pending behind a finished job.
    stored = new
    while _link(url, asset_id, new):
        new = False
    return ImageFetched.STORED if stored else ImageFetched.DEDUPLICATED


def _link(url: str, asset_id: int, new: bool) -> bool:
    """Link the rows pending for the URL to the asset, each counted for its run (the first as
    fetched when this job stored the file); whether there were any."""
    runs: Counter[int | None] = Counter()
    with transaction.atomic():
        rows = list(
            FamilyImage.objects.select_for_update()
            .filter(source_url=url, status=ImageStatus.PENDING)
            .order_by("pk")
        )
        if not rows:
            return False
        for row in rows:
            runs[row.run_id] += 1
        first = rows[0].run_id
        FamilyImage.objects.filter(pk__in=[r.pk for r in rows]).update(
            status=ImageStatus.STORED, asset_id=asset_id, error="", updated_at=timezone.now()
        )
        for run_id, count in runs.items():
            fetched = int(run_id == first and new)
            run_counters_add(run_id, images_fetched=fetched, images_deduplicated=count - fetched)
    for run_id in runs:
        run_finish_if_done(run_id)
    return True


def images_failed(url: str, error: str) -> None:
    """Every family waiting for the URL is told it failed (ops retry it from the admin)."""
    runs: Counter[int | None] = Counter()
    with transaction.atomic():
        rows = list(
            FamilyImage.objects.select_for_update().filter(source_url=url, status=ImageStatus.PENDING)
        )
        for row in rows:
            runs[row.run_id] += 1
        FamilyImage.objects.filter(pk__in=[r.pk for r in rows]).update(
            status=ImageStatus.FAILED, error=error[:500], updated_at=timezone.now()
        )
        for run_id, count in runs.items():
            run_counters_add(run_id, images_failed=count)
    logger.warning("catalog image failed: %s", error, extra={"image_url": url, "families": len(rows)})
    for run_id in runs:
        run_finish_if_done(run_id)


def images_retry(image_ids: Iterable[int]) -> int:
    """Fetch failed images again (the admin's action); they count for no run."""
    rows = FamilyImage.objects.filter(pk__in=list(image_ids), status=ImageStatus.FAILED)
    urls = set(rows.values_list("source_url", flat=True))
    rows.update(status=ImageStatus.PENDING, error="", run=None)
    for url in urls:
        enqueue_on_commit("catalog-images", IMAGE_JOB, url, image_job_id(url))
    return len(urls)
