"""Reading a supplier's feed: the index, which of its records changed, and the records themselves.

The index is UTF-8, one variant per non-empty line: `URL|HASH`, HASH being the supplier's opaque
content hash of that record. Each URL serves one JSON record (README, "Supplier catalogs"). A
malformed line or record is reported with its line number and does not stop the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings

from catalog_sync.models import FeedRecord, Supplier
from channels_app import boundedjson, http

BATCH = 1000  # URLs per comparison query
URL_MAX, HASH_MAX = 1000, 200  # FeedRecord.url, FeedRecord.content_hash
MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}
PRICE_DIGITS, PRICE_PLACES = 14, 4  # SKU.price


@dataclass(frozen=True)
class IndexEntry:
    line: int
    url: str
    content_hash: str


@dataclass(frozen=True)
class LineError:
    line: int
    message: str
    url: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "error": self.message} | ({"url": self.url} if self.url else {})


class FeedError(Exception):
    """A record (or the index) that cannot be used as it is; `permanent` as for platform calls."""

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


def index_parse(data: bytes | str) -> tuple[list[IndexEntry], list[LineError]]:
    """The index's entries and its malformed lines; a URL listed twice counts once (the last)."""
    lines: list[str] | list[bytes] = data.splitlines() if isinstance(data, str) else data.split(b"\n")
    entries: dict[str, IndexEntry] = {}
    errors: list[LineError] = []
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        except UnicodeDecodeError as exc:
            errors.append(LineError(number, f"not UTF-8 (byte {exc.start + 1})"))
            continue
        line = text.strip().lstrip("\ufeff")
        if not line:
            continue
        url, separator, content_hash = line.rpartition("|")
        url, content_hash = url.strip(), content_hash.strip()
        if not separator or not url or not content_hash:
            errors.append(LineError(number, "expected URL|HASH"))
            continue
        if not _is_http_url(url):
            errors.append(LineError(number, f"not an http(s) URL: {url[:100]}"))
            continue
        if len(url) > URL_MAX or len(content_hash) > HASH_MAX:
            errors.append(LineError(number, f"URL over {URL_MAX} or HASH over {HASH_MAX} characters"))
            continue
        entries[url] = IndexEntry(number, url, content_hash)
    return list(entries.values()), errors


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@dataclass
class Comparison:
    """The index against the stored HASHes."""

    changed: list[IndexEntry] = field(default_factory=list)  # new, or HASH differs
    unchanged: int = 0
    known: int = 0  # entries already stored, changed or not
    unchanged_families: set[int] = field(default_factory=set)


def compare(supplier_id: int, entries: Iterable[IndexEntry]) -> Comparison:
    """Which entries changed since the last fetch, in one query per thousand URLs."""
    result = Comparison()
    entries = list(entries)
    for start in range(0, len(entries), BATCH):
        batch = entries[start : start + BATCH]
        stored = {
            url: (content_hash, family_id)
            for url, content_hash, family_id in FeedRecord.objects.filter(
                supplier_id=supplier_id, url__in=[e.url for e in batch]
            ).values_list("url", "content_hash", "family_id")
        }
        result.known += len(stored)
        for entry in batch:
            content_hash, family_id = stored.get(entry.url, (None, None))
            if content_hash == entry.content_hash:
                result.unchanged += 1
                if family_id is not None:
                    result.unchanged_families.add(family_id)
            else:
                result.changed.append(entry)
    return result


# --- HTTP --------------------------------------------------------------------------------------


def _call(supplier: Supplier) -> http.Call:
    return http.Call(platform=f"supplier {supplier.code}", channel_id=None, bucket=None)


def _auth(supplier: Supplier, url: str) -> dict[str, Any]:
    """The supplier's credentials, sent only to its feed's own host (records and images may be
    served by a CDN, which must not see them)."""
    credentials = supplier.credentials or {}
    if urlsplit(url).netloc != urlsplit(supplier.feed_url).netloc:
        return {}
    if credentials.get("token"):
        return {"headers": {"Authorization": f"Bearer {credentials['token']}"}}
    if credentials.get("username"):
        return {"auth": (credentials["username"], credentials.get("password", ""))}
    return {}


def download(call: http.Call, url: str, *, limit: int, **kwargs: Any) -> tuple[bytes, str]:
    """GET `url`: its body, refused past `limit` bytes, and content type. Redirects are followed
    (a CDN's), each hop connecting through the HTTP layer's address check (a feed, which any
    merchant can configure, must not make the workers fetch the hub's own network: cloud metadata,
    Redis, the admin); credentials never cross to another host.

    Raises PlatformError (permanent for 4xx and a refused address, not for 5xx and connection
    errors, after the HTTP layer's own retries) and FeedError for a body over the limit.
    """
    for _ in range(MAX_REDIRECTS + 1):
        response = http.send(call, "GET", url, stream=True, **kwargs)
        location = response.headers.get("Location")
        if response.status_code not in _REDIRECTS or not location:
            break
        response.close()
        target = urljoin(url, location)
        if urlsplit(target).netloc != urlsplit(url).netloc:
            kwargs.pop("auth", None)
            kwargs.pop("headers", None)
        url = target
    else:
        raise FeedError(f"more than {MAX_REDIRECTS} redirects")
    try:
        if response.status_code >= 300:
            raise FeedError(f"answered {response.status_code} (a redirect without a Location)")
        body = http.read_bounded(response, limit)
    except http.TooLarge as exc:
        raise FeedError(str(exc)) from None
    except requests.RequestException as exc:  # The connection dropped mid-body: worth a retry.
        raise http.PlatformError(
            f"{call.platform} GET: {type(exc).__name__} mid-body", permanent=False
        ) from None
    finally:
        response.close()
    return body, response.headers.get("Content-Type", "")


def index_fetch(supplier: Supplier) -> bytes:
    url = supplier.feed_url
    body, _ = download(_call(supplier), url, limit=settings.CATALOG_INDEX_MAX_BYTES, **_auth(supplier, url))
    return body


@dataclass(frozen=True)
class Fetched:
    entry: IndexEntry
    data: dict[str, Any] | None
    error: LineError | None
    transient: bool = False  # the supplier's server failed, not the record


def records_fetch(supplier: Supplier, entries: list[IndexEntry]) -> Iterator[list[Fetched]]:
    """The entries' records, fetched CATALOG_FETCH_CONCURRENCY at a time, in chunks (in order)."""
    call = _call(supplier)

    def fetch(entry: IndexEntry) -> Fetched:
        try:
            body, _ = download(
                call,
                entry.url,
                limit=settings.CATALOG_RECORD_MAX_BYTES,
                attempts=3,
                **_auth(supplier, entry.url),
            )
            return Fetched(entry, record_parse(body), None)
        except (FeedError, http.PlatformError) as exc:
            error = LineError(entry.line, str(exc)[:300], entry.url)
            return Fetched(entry, None, error, transient=not exc.permanent)

    # Each pool thread keeps its own pooled session (http.session); they go with the threads.
    chunk = 50 * max(1, settings.CATALOG_FETCH_CONCURRENCY)
    with ThreadPoolExecutor(max_workers=settings.CATALOG_FETCH_CONCURRENCY) as pool:
        for start in range(0, len(entries), chunk):
            yield list(pool.map(fetch, entries[start : start + chunk]))


# --- Records -----------------------------------------------------------------------------------


def record_parse(body: bytes) -> dict[str, Any]:
    """The record, checked and normalized to what the hub keeps; FeedError says what is wrong."""
    if b"\\u0000" in body:
        raise FeedError("holds a NUL character (\\u0000), which no text field can store")
    try:
        record = boundedjson.loads(body, parse_float=Decimal)
    except boundedjson.JSONRefused as exc:
        raise FeedError(f"not JSON: {exc}"[:200]) from None
    if not isinstance(record, dict):
        raise FeedError("not a JSON object")
    data: dict[str, Any] = {
        "family": _key(record, "family", 200),
        "sku": _key(record, "sku", 100),
        "name": _text(record, "name", required=True)[:255],
        "price": _price(record.get("price")),
        "currency": _currency(record.get("currency")),
        "description": _text(record, "description"),
        "images": _images(record.get("images")),
        "attributes": _attributes(record.get("attributes")),
    }
    family_name = _text(record, "family_name")[:255]
    if family_name:
        # Kept only when given: a key in every record would change every family's content hash,
        # and so rewrite every product of every feed that never had a family name.
        data["family_name"] = family_name
    return data


def _key(record: dict[str, Any], name: str, max_length: int) -> str:
    value = record.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # Article numbers often come as JSON numbers; the hub keeps text.
    if not isinstance(value, str) or not value.strip():
        raise FeedError(f"`{name}` is missing or not a string")
    value = value.strip()
    if len(value) > max_length:
        raise FeedError(f"`{name}` is longer than {max_length} characters")
    return value


def _text(record: dict[str, Any], name: str, *, required: bool = False) -> str:
    value = record.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise FeedError(f"`{name}` is {'missing or ' if required else ''}not a string")
    return value.strip()


def _price(value: Any) -> str:
    """A decimal string (a JSON number is taken too), at most 4 places, not negative."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise FeedError("`price` is missing or not a decimal string")
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise FeedError(f"`price` is not a decimal: {str(value)[:30]!r}") from None
    if not price.is_finite() or price < 0:
        raise FeedError(f"`price` must be a number of 0 or more, not {value}")
    exponent = price.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > PRICE_PLACES:
        raise FeedError(f"`price` has more than {PRICE_PLACES} decimal places: {value}")
    if price >= 10 ** (PRICE_DIGITS - PRICE_PLACES):
        raise FeedError(f"`price` is too large: {value}")
    return str(price.quantize(Decimal(1).scaleb(-PRICE_PLACES)))


def _currency(value: Any) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value.strip()) != 3 or not value.strip().isalpha():
        raise FeedError(f"`currency` is not a 3-letter ISO 4217 code: {str(value)[:20]!r}")
    return value.strip().upper()


def _images(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise FeedError("`images` is not a list of URLs")
    images: list[str] = []
    for item in value:
        if not isinstance(item, str) or not _is_http_url(item.strip()):
            raise FeedError(f"`images` holds something that is not an http(s) URL: {str(item)[:100]!r}")
        if len(item.strip()) > 1000:
            raise FeedError("`images` holds a URL longer than 1000 characters")
        if item.strip() not in images:
            images.append(item.strip())
    return images


def _attributes(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FeedError("`attributes` is not an object")
    attributes: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, Decimal):
            item = str(item)
        elif isinstance(item, dict | list):
            raise FeedError(f"`attributes.{key}` is not a string, number or boolean")
        attributes[str(key)] = item
    return attributes
