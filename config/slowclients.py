"""Slow clients cannot hold the threads that answer platforms.

A web thread reads a request's body as it arrives. A client that announces a body and sends it a
byte at a time, or never, would hold the thread until it gave up; enough of them and no webhook is
answered. So every request body must have arrived within HUB_REQUEST_BODY_TIMEOUT seconds of the
request's start: past that, a watchdog shuts the socket's read side, the read ends at once, and the
request is answered 408 by the intake (400 or 403 elsewhere). The thread is free again; the
answer's write side is untouched. Under a server that gives no socket (tests, runserver) nothing
is watched.
"""

from __future__ import annotations

import itertools
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

logger = logging.getLogger(__name__)

TICK = 0.2  # seconds between the watchdog's looks


class _Watchdog:
    """One thread per process, whatever the number of requests: a request's cost is a dict entry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[float, socket.socket]] = {}
        self._keys = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, sock: socket.socket, seconds: float) -> int:
        key = next(self._keys)
        with self._lock:
            self._watched[key] = (time.monotonic() + seconds, sock)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="body-watchdog", daemon=True)
                self._thread.start()
        return key

    def disarm(self, key: int) -> None:
        with self._lock:
            self._watched.pop(key, None)

    def _run(self) -> None:
        while True:
            time.sleep(TICK)
            now = time.monotonic()
            # Under the lock: a request disarms its entry before its connection can carry the
            # next request, so a shutdown never reaches a request it was not meant for.
            with self._lock:
                overdue = [key for key, (deadline, _) in self._watched.items() if deadline <= now]
                for key in overdue:
                    try:
                        self._watched.pop(key)[1].shutdown(socket.SHUT_RD)
                    except OSError:
                        pass  # The connection closed already: there is nothing to end.
            if overdue:
                logger.warning("%s request bodies not received in time; their reads were ended", len(overdue))


watchdog = _Watchdog()

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class _WatchedInput:
    """wsgi.input, telling the watchdog once the whole body has been read."""

    def __init__(self, stream: Any, length: int, done: Callable[[], None]) -> None:
        self.stream, self.left, self.done = stream, length, done

    def _count(self, data: bytes) -> bytes:
        self.left -= len(data)
        if self.left <= 0 or not data:
            self.done()
        return data

    def read(self, *args: Any) -> bytes:
        return self._count(self.stream.read(*args))

    def readline(self, *args: Any) -> bytes:
        return self._count(self.stream.readline(*args))

    def readlines(self, *args: Any) -> list[bytes]:
        return [self._count(line) for line in self.stream.readlines(*args)]

    def __iter__(self) -> Any:
        return iter(self.readline, b"")


class BodyDeadline:
    """WSGI middleware: the request's body is watched from the request's start until it has been
    read (or the application has answered). Not over TLS terminated here: shutting down half of
    an SSL socket would write the answer in clear; TLS ends at the proxy in front (README)."""

    def __init__(self, app: WSGIApp, seconds: Callable[[], float]) -> None:
        self.app = app
        self.seconds = seconds

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        length = environ.get("CONTENT_LENGTH", "")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if sock is None or isinstance(sock, ssl.SSLSocket) or (length in ("", "0") and not chunked):
            return self.app(environ, start_response)
        key = watchdog.arm(sock, self.seconds())
        if length.isdigit():
            environ["wsgi.input"] = _WatchedInput(
                environ["wsgi.input"], int(length), lambda: watchdog.disarm(key)
            )
        try:
            return self.app(environ, start_response)
        finally:
            watchdog.disarm(key)
