"""Reading a supplier's feed index, and telling which records changed since the last sync.

The index is UTF-8, one variant per non-empty line: `URL|HASH`, HASH being the supplier's opaque
content hash of that record. A malformed line is reported with its number and does not stop the
run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from catalog_sync.models import FeedRecord

BATCH = 1000  # URLs per comparison query


@dataclass(frozen=True)
class IndexEntry:
    line: int
    url: str
    content_hash: str


@dataclass(frozen=True)
class LineError:
    line: int
    message: str


def index_parse(text: str) -> tuple[list[IndexEntry], list[LineError]]:
    """The index's entries and its malformed lines; a URL listed twice counts once (the last)."""
    entries: dict[str, IndexEntry] = {}
    errors: list[LineError] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line:
            continue
        url, separator, content_hash = line.rpartition("|")
        url, content_hash = url.strip(), content_hash.strip()
        if not separator or not url or not content_hash:
            errors.append(LineError(number, "expected URL|HASH"))
            continue
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors.append(LineError(number, f"not an http(s) URL: {url[:100]}"))
            continue
        entries[url] = IndexEntry(number, url, content_hash)
    return list(entries.values()), errors


def _batches(entries: list[IndexEntry]) -> Iterator[list[IndexEntry]]:
    for start in range(0, len(entries), BATCH):
        yield entries[start : start + BATCH]


def changed_entries(supplier_id: int, entries: Iterable[IndexEntry]) -> tuple[list[IndexEntry], int]:
    """The entries whose HASH differs from the stored one (or that are new), and how many did not
    change, in one query per thousand URLs."""
    changed: list[IndexEntry] = []
    unchanged = 0
    for batch in _batches(list(entries)):
        stored = dict(
            FeedRecord.objects.filter(supplier_id=supplier_id, url__in=[e.url for e in batch]).values_list(
                "url", "content_hash"
            )
        )
        for entry in batch:
            if stored.get(entry.url) == entry.content_hash:
                unchanged += 1
            else:
                changed.append(entry)
    return changed, unchanged
