"""The one HTTP layer for every platform API call.

Each call: waits for its channel's rate-limit bucket (shared by all workers through Redis), is sent
with connect and read timeouts, is retried with exponential backoff on connection errors, 429 and
5xx (honouring `Retry-After`), and is logged once with method, path, status and duration; never a
query string or a header, where platforms put tokens. What cannot succeed (401, 403, 404, 422, ...)
raises `PlatformError(permanent=True)` at once; what might later raises it with `permanent=False`,
so the job is retried by rq with its own backoff.

Every request connects through channels_app.egress (public addresses only, unless ops opened a
network), and an error's message carries the answer's status, the platform's own error code and
message where it gives them, and at most ERROR_TEXT characters of its text, HTML stripped: it is
shown to merchants in the admin, and a platform's raw answer (or a server a merchant pointed the
hub at) has no business there.
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import html
import logging
import random
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from channels_app import boundedjson, egress, ratelimit
from config.queues import get_queue

logger = logging.getLogger(__name__)

TIMEOUT = (5.0, 30.0)  # connect, read (seconds)
ATTEMPTS = 4  # Attempts within one call; the job's own retries come after these.
BACKOFF = 0.5  # seconds, doubled per attempt, with jitter
MAX_RETRY_AFTER = 30.0  # A longer Retry-After gives the worker back: the job is retried later.
# Worth another try: any 5xx (Cloudflare's 52x in front of a store too), timeouts, rate limits.
_RETRY_CLIENT_STATUSES = {408, 425, 429}

QUICK_TIMEOUT = (5.0, 10.0)
# The most of an API answer's body read into memory; a streamed body is the caller's to bound.
MAX_ANSWER_BYTES = 32 * 1024 * 1024
_local = threading.local()
_quick: contextvars.ContextVar[bool] = contextvars.ContextVar("quick_calls", default=False)


@contextlib.contextmanager
def quick_calls() -> Iterator[None]:
    """Calls made while someone waits (the admin's "Verify connection"): one attempt, a short
    read timeout, and no long wait for the rate limit."""
    token = _quick.set(True)
    try:
        yield
    finally:
        _quick.reset(token)


class PlatformError(Exception):
    """A platform call that failed; `permanent` says whether trying again could help."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        status: int | None = None,
        retry_after: float | None = None,
        unsent: bool = False,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status
        self.retry_after = retry_after
        # Never reached the platform, or refused before acting (429): sending again is safe.
        self.unsent = unsent


@dataclass(frozen=True)
class Call:
    """Who is calling: for the rate limit and the logs (a supplier's feed has no channel)."""

    platform: str
    channel_id: int | None
    bucket: ratelimit.Bucket | None
    cost: float = 1
    max_wait: float = 120  # seconds to wait for the bucket before giving up (`unsent`, retry_after)


def session() -> requests.Session:
    """One pooled session per thread (a worker process runs one job at a time), connecting only
    where channels_app.egress allows."""
    if not hasattr(_local, "session"):
        _local.session = egress.session()
    return _local.session


def send(
    call: Call,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    data: Any = None,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    timeout: tuple[float, float] | None = None,
    attempts: int | None = None,
    client_errors: bool = False,
    stream: bool = False,
    follow_redirects: bool = False,
) -> requests.Response:
    """Send one API request with the rate limit, timeouts and retries; the response if 2xx/3xx
    (or any 4xx but 429 with `client_errors`, for platforms that explain errors in the body).

    `stream` leaves the body to the caller (to read it with a size limit). Redirects are followed
    only when asked (a supplier's CDN); a platform call never follows one with its token.
    """
    path = urlsplit(url).path
    refusal = egress.url_refusal(url)
    if refusal:
        raise PlatformError(f"{call.platform} {method} {path}: {refusal}", permanent=True, unsent=True)
    quick = _quick.get()
    timeout = timeout or (QUICK_TIMEOUT if quick else TIMEOUT)
    attempts = 1 if quick else (attempts or ATTEMPTS)
    for attempt in range(1, attempts + 1):
        if call.bucket is not None:
            _acquire(call)
        started = time.monotonic()
        try:
            response = session().request(
                method,
                url,
                params=params,
                json=json,
                data=data,
                headers=headers,
                auth=auth,
                timeout=timeout,
                # A redirect would carry the token header to wherever it points.
                allow_redirects=follow_redirects,
                # Streamed, so that the body is read below within MAX_ANSWER_BYTES (or by the caller).
                stream=True,
            )
        except egress.AddressRefused as exc:
            _log(call, method, path, "refused", started, attempt, error="AddressRefused")
            raise PlatformError(
                f"{call.platform} {method} {path}: {exc}", permanent=True, unsent=True
            ) from None
        except requests.RequestException as exc:
            _log(call, method, path, "error", started, attempt, error=type(exc).__name__)
            if attempt == attempts:
                # `from None`: requests' message holds the whole URL, and Shopee's query holds the
                # access token; a chained exception would put it in rq's traceback and the admin.
                raise PlatformError(
                    f"{call.platform} {method} {path}: {type(exc).__name__}", permanent=False
                ) from None
            _sleep(attempt, None)
            continue
        _log(call, method, path, response.status_code, started, attempt)
        if response.status_code < 400:
            return response if stream else _read_whole(response, call, method, path)
        retry_after = _retry_after(response.headers.get("Retry-After"))
        if response.status_code < 500 and response.status_code not in _RETRY_CLIENT_STATUSES:
            if client_errors and response.status_code < 500:
                return response if stream else _read_whole(response, call, method, path)
            raise PlatformError(
                f"{call.platform} {method} {path} answered {response.status_code}: {_excerpt(response)}",
                permanent=True,
                status=response.status_code,
            )
        if attempt == attempts or (retry_after is not None and retry_after > MAX_RETRY_AFTER):
            raise PlatformError(
                f"{call.platform} {method} {path} answered {response.status_code} after {attempt} attempts: "
                f"{_excerpt(response)}",
                permanent=False,
                status=response.status_code,
                retry_after=retry_after,
                unsent=response.status_code == 429,
            )
        response.close()  # Its body is unread, so its connection is closed rather than reused.
        _sleep(attempt, retry_after)
    raise AssertionError("unreachable")


class TooLarge(Exception):
    """A body past the reader's limit."""


def read_bounded(response: requests.Response, limit: int) -> bytes:
    """A streamed answer's body, read no further than `limit` bytes (TooLarge past it, said by
    its Content-Length or found reading); requests' errors mid-body are the caller's."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"{int(declared)} bytes, over the limit of {limit}")
    body = bytearray()
    for chunk in response.iter_content(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"over the limit of {limit} bytes")
    return bytes(body)


def _read_whole(response: requests.Response, call: Call, method: str, path: str) -> requests.Response:
    """The answer with its body read, refused past MAX_ANSWER_BYTES: a server a merchant named
    may answer anything, and requests alone would read it all into memory."""
    try:
        body = read_bounded(response, MAX_ANSWER_BYTES)
    except TooLarge as exc:
        response.close()
        raise PlatformError(
            f"{call.platform} {method} {path} answered {exc}", permanent=True, status=response.status_code
        ) from None
    except requests.RequestException as exc:  # The connection dropped mid-body: worth a retry.
        response.close()
        raise PlatformError(
            f"{call.platform} {method} {path}: {type(exc).__name__} mid-body", permanent=False
        ) from None
    response._content = body  # Where requests keeps a read body: .content, .text and .json() use it.
    response._content_consumed = True  # type: ignore[attr-defined]
    return response


def json_body(response: requests.Response, call: Call) -> Any:
    """The answer's JSON; a body that is not JSON (a proxy's error page) is worth another try later."""
    try:
        return boundedjson.loads(response.content)
    except boundedjson.JSONRefused as exc:
        path = urlsplit(response.url).path
        raise PlatformError(
            f"{call.platform} {path} answered {response.status_code} without usable JSON ({exc})"[:300],
            permanent=False,
        ) from None


def _acquire(call: Call) -> None:
    assert call.bucket is not None
    try:
        waited = ratelimit.acquire(
            get_queue("channel-sync").connection,
            call.bucket,
            call.cost,
            max_wait=min(5, call.max_wait) if _quick.get() else call.max_wait,
        )
    except ratelimit.RateLimitWait as exc:
        raise PlatformError(str(exc), permanent=False, retry_after=exc.seconds, unsent=True) from exc
    if waited:
        logger.info("%s channel %s waited %.2fs for its rate limit", call.platform, call.channel_id, waited)


def _sleep(attempt: int, retry_after: float | None) -> None:
    if retry_after is not None:
        time.sleep(retry_after)
    else:
        time.sleep(BACKOFF * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


ERROR_TEXT = 200  # characters of an error answer's text shown, at most
_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")
# Where platforms put their error's code and message: Shopify ("errors"), WooCommerce ("code",
# "message"), Shopee ("error", "message"), Twilio ("code", "message"), EasyPost ({"error": {...}}),
# AfterShip ({"meta": {"code", "message"}}).
_CODE_KEYS = ("code", "error_code", "error")
_MESSAGE_KEYS = ("message", "msg", "error_description", "errors", "detail")


def _excerpt(response: requests.Response) -> str:
    """What an error answer says, for people: the platform's error code and message when its body
    gives them, else the start of its text with HTML stripped; read no further than 4 KB (a
    streamed body may be huge), the answer closed and its connection back in the pool."""
    try:
        head = b"".join(_first_bytes(response, 4096))
    except requests.RequestException:
        head = b""
    finally:
        response.close()
    text = head.decode(response.encoding or "utf-8", errors="replace")
    try:
        fields = _error_fields(boundedjson.loads(head))
    except boundedjson.JSONRefused:
        fields = ""
    return fields or plain_text(text)


def plain_text(text: str, limit: int = ERROR_TEXT) -> str:
    """`text` without markup, on one line, at most `limit` characters."""
    flat = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", text))).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _first_bytes(response: requests.Response, limit: int) -> Iterator[bytes]:
    read = 0
    for chunk in response.iter_content(1024):
        yield chunk[: limit - read]
        read += len(chunk)
        if read >= limit:
            return


def _error_fields(body: Any) -> str:
    """The platform's error code and message in its error answer, as "code: message", or ""."""
    if not isinstance(body, dict):
        return ""
    for nested in ("error", "meta"):
        if isinstance(body.get(nested), dict):
            found = _error_fields(body[nested])
            if found:
                return found
    code = next((body[k] for k in _CODE_KEYS if isinstance(body.get(k), str | int) and body[k] != ""), "")
    message: Any = next((body[k] for k in _MESSAGE_KEYS if body.get(k)), "")
    if isinstance(message, list):  # GraphQL: [{"message": ...}], Shopify REST: ["..."]
        message = "; ".join(str(m.get("message", m) if isinstance(m, dict) else m) for m in message[:3])
    elif isinstance(message, dict):  # Shopify REST: {"field": ["is invalid"]}
        message = "; ".join(f"{k} {v}" for k, v in list(message.items())[:3])
    text = f"{code}: {message}" if code != "" and message else str(message or code)
    return plain_text(text)


def _log(
    call: Call, method: str, path: str, status: int | str, started: float, attempt: int, error: str = ""
) -> None:
    logger.info(
        "%s %s %s -> %s in %.0f ms",
        call.platform,
        method,
        path,
        status,
        (time.monotonic() - started) * 1000,
        extra={
            **({"channel_id": call.channel_id} if call.channel_id is not None else {}),
            "http_method": method,
            "http_path": path,
            "http_status": status,
            "attempt": attempt,
            **({"error": error} if error else {}),
        },
    )
