"""A generated supplier feed (seed 003's Import.txt shape), served over HTTP by the catalog tests and
by the catalog benchmark.

`Feed` holds the records and images; `Feed.respond` answers a werkzeug request for the index, a
record or an image, and counts what was asked, so a test can say what a run fetched.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections import Counter
from typing import Any

from PIL import Image
from werkzeug.wrappers import Request, Response


def png(number: int, size: tuple[int, int] = (4, 3)) -> bytes:
    """A real, tiny PNG whose pixels (and so bytes) differ for each number."""
    color = (number % 256, (number // 256) % 256, (number // 65536) % 256)
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


class Feed:
    def __init__(
        self,
        base_url: str,
        *,
        families: int = 3,
        variants: int = 2,
        images: int = 2,
        shared_image: bool = False,
    ) -> None:
        """`families` families of `variants` variants each; each family lists `images` images of
        its own (its first variant the first, the others the rest), and with `shared_image`
        every family also lists /images/shared.png."""
        self.base_url = base_url.rstrip("/")
        self.records: dict[str, dict[str, Any]] = {}
        self.images: dict[str, bytes] = {}
        self.broken: dict[str, int] = {}  # path -> status to answer instead
        self.raw: dict[str, bytes] = {}  # path -> body to answer as is (a malformed record)
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._index: bytes | None = None
        image_number = 0
        for f in range(families):
            family = f"ART-{f:05d}"
            family_images = []
            for _ in range(images):
                image_number += 1
                path = f"/images/{image_number}.png"
                self.images[path] = png(image_number)
                family_images.append(self.url(path))
            if shared_image:
                self.images["/images/shared.png"] = png(0, size=(5, 5))
                family_images.append(self.url("/images/shared.png"))
            for v in range(variants):
                self.records[f"/records/{family}-{v}.json"] = {
                    "family": family,
                    "sku": f"{family}-{v}",
                    "name": f"Mug {family} size {v}",
                    "price": f"{10 + f}.50",
                    "currency": "EUR",
                    "description": f"A mug of family {family}.",
                    "images": family_images[:1] if v == 0 else family_images[1:],
                    "attributes": {"size": str(v)},
                    "supplier_extra": {"ignored": True},
                }

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    @property
    def index_url(self) -> str:
        return self.url("/Import.txt")

    def record_hash(self, path: str) -> str:
        body = self.raw.get(path) or json.dumps(self.records[path], sort_keys=True).encode()
        return hashlib.sha1(body).hexdigest()

    def index(self) -> bytes:
        if self._index is None:
            lines = [f"{self.url(path)}|{self.record_hash(path)}" for path in self.records]
            self._index = ("\n".join(lines) + "\n").encode()
        return self._index

    def change(self, path: str, **fields: Any) -> None:
        self.records[path].update(fields)
        self._index = None

    def family_paths(self, family: str) -> list[str]:
        return [path for path, record in self.records.items() if record["family"] == family]

    def record_paths(self) -> set[str]:
        return set(self.records)

    def fetched(self, paths: set[str] | None = None) -> int:
        """How many requests asked for the given paths (default: any record)."""
        paths = self.record_paths() if paths is None else paths
        return sum(n for path, n in self.hits.items() if path in paths)

    def image_hits(self) -> int:
        return sum(n for path, n in self.hits.items() if path.startswith("/images/"))

    def respond(self, request: Request) -> Response:
        path = request.path
        with self._lock:
            self.hits[path] += 1
        if path in self.broken:
            return Response("not here", status=self.broken[path])
        if path == "/Import.txt":
            return Response(self.index(), content_type="text/plain; charset=utf-8")
        if path in self.raw:
            return Response(self.raw[path], content_type="application/json")
        if path in self.records:
            return Response(json.dumps(self.records[path]), content_type="application/json")
        if path in self.images:
            return Response(self.images[path], content_type="image/png")
        return Response("no such path", status=404)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """As a WSGI app (the benchmark serves it with werkzeug's threaded server)."""
        return self.respond(Request(environ))(environ, start_response)
