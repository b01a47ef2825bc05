"""Catalog images: downloaded with a size limit, checked to be images, stored once per content.

Files go through Django's storage API (STORAGES["default"]), named by their SHA-256 so the same
picture behind two URLs, or two suppliers, is one file and one ImageAsset.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from PIL import Image, UnidentifiedImageError

from catalog_sync.feed import FeedError, download
from catalog_sync.models import ImageAsset
from channels_app import http

logger = logging.getLogger(__name__)

_CALL = http.Call(platform="catalog image", channel_id=None, bucket=None)
# Decompression bombs: a small file that decodes to billions of pixels.
MAX_PIXELS = 100_000_000


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
                image.verify()  # a truncated or corrupt file
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
