"""Run `make run` as a user would, post one signed webhook, see it processed, then Ctrl-C."""

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = "8765"
BASE = f"http://127.0.0.1:{PORT}"


def get(path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(BASE + path, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def wait(what: str, check, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            print(f"ok: {what}")
            return
        time.sleep(0.5)
    raise SystemExit(f"FAILED: {what} within {timeout}s")


def main() -> None:
    env = {**os.environ, "PORT": PORT, "WEBHOOK_BASE_URL": BASE}
    run = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, start_new_session=True)
    try:
        wait("make run serves /readyz", lambda: get("/readyz")[0] == 200)
        wait("the admin login page", lambda: get("/admin/login/")[0] == 200)
        created = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "create_channel",
                "--org",
                "smoke",
                "--platform",
                "shopify",
                "--shop-domain",
                "smoke.myshopify.com",
                "--webhook-secret",
                "smoke-secret",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        print(created.stdout.strip())
        body = (ROOT / "tests/fixtures/shopify/webhooks/app_uninstalled.json").read_bytes()
        signature = base64.b64encode(hmac.new(b"smoke-secret", body, hashlib.sha256).digest()).decode()
        request = urllib.request.Request(
            BASE + "/webhooks/shopify/",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Shopify-Topic": "app/uninstalled",
                "X-Shopify-Hmac-Sha256": signature,
                "X-Shopify-Shop-Domain": "smoke.myshopify.com",
                "X-Shopify-Event-Id": f"smoke-{time.time_ns()}",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        assert answer["status"] == "enqueued", answer
        print(f"ok: webhook accepted as event {answer['event']}")
        status_of_event = [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from channels_app.models import ProcessedWebhookEvent as E; "
            f"print(E.objects.get(pk={answer['event']}).status)",
        ]
        wait(
            "the worker processed the event",
            lambda: (
                subprocess.run(
                    status_of_event, cwd=ROOT, env=env, capture_output=True, text=True
                ).stdout.split()[-1:]
                == ["COMPLETED"]
            ),
        )
    finally:
        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        try:
            run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            raise SystemExit("FAILED: make run did not stop on Ctrl-C within 60s") from None

    def group_gone() -> bool:
        try:
            os.killpg(run.pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait("every process of make run (web, workers, scheduler) stopped", group_gone, timeout=60)
    sys.path.insert(0, str(ROOT))
    from config.embedded import is_answering, socket_path

    wait("the embedded Valkey server stopped", lambda: not is_answering(socket_path(ROOT / "var" / "valkey")))


if __name__ == "__main__":
    main()
