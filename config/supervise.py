"""`python -m config.supervise COMMAND...`: run a command, and run it again whenever it dies.

`make run` starts the hub's processes with honcho, which neither notices nor restarts one that
crashed (the OOM killer's SIGKILL, a bug): a dead worker would leave its queues unserved until
someone looked. Each worker line of the Procfile runs under this instead. SIGTERM and SIGINT are
passed on to the command (in its own process group, so a Ctrl-C reaches it once, through here, and
rq's warm shutdown is not turned into a cold one by a second signal); once it has stopped, so does
this. A command that keeps dying is restarted after a growing pause, at most MAX_PAUSE seconds.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType

MAX_PAUSE = 30.0
STEADY = 60.0  # A command that ran this long is restarted at once, not after a growing pause.


def main(command: list[str]) -> int:
    if not command:
        print("usage: python -m config.supervise COMMAND [ARGS...]", file=sys.stderr)
        return 2
    stopping = False
    stop_signal = signal.SIGTERM
    child: subprocess.Popen[bytes] | None = None
    # Each child is told once: a second SIGTERM would be rq's cold shutdown, which abandons its job.
    signalled: set[int] = set()

    def forward() -> None:
        if child is not None and child.poll() is None and child.pid not in signalled:
            signalled.add(child.pid)
            child.send_signal(stop_signal)

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping, stop_signal
        stopping, stop_signal = True, signal.Signals(signum)
        forward()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    pause = 1.0
    while True:
        started = time.monotonic()
        child = subprocess.Popen(command, process_group=0)
        if stopping:
            forward()  # Asked while it was starting: the handler saw only the child before it.
        code = child.wait()
        if stopping:
            return code
        pause = 1.0 if time.monotonic() - started > STEADY else min(pause * 2, MAX_PAUSE)
        print(
            f"supervise: {' '.join(command)} exited ({_how(code)}); starting it again in {pause:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        deadline = time.monotonic() + pause
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        if stopping:
            return 0


def _how(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"status {code}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
