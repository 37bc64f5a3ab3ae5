"""What the webhook delivery tests share: a real HTTP receiver on 127.0.0.1 that records
every POST and answers the statuses it is told to, and webhooks saved as the event log
has them (their use cases refuse loopback URLs, which these tests need)."""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from domain.webhooks import EVENT_NAMES, Webhook
from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from tests.conftest import TEST_ORIGIN

T = TypeVar("T")
API_URL = "http://marid.test/api"


def delivery_settings(settings: Settings, **changes: Any) -> Settings:
    """Webhooks on, loopback allowed, tiny backoffs and timeouts."""
    defaults: dict[str, Any] = {
        "run_webhooks": True,
        "allow_private_urls": True,
        "webhook_backoff": 0.05,
        "webhook_timeout": 5.0,
        "webhook_max_attempts": 3,
        "api_url": API_URL,
    }
    return replace(settings, **{**defaults, **changes})


def save_hook(
    marid: Marid,
    namespace_id: int,
    url: str,
    *,
    events: list[str] | None = None,
    secret: str | None = None,
    active: bool = True,
    ssl: bool = False,
) -> int:
    """A webhook as `create_webhook` records it (owner = author = the namespace's owner)."""
    owner = marid.app.namespace(namespace_id)
    assert owner is not None
    hook_id = marid.app.ids.next_id("webhook")
    hook = Webhook(
        public_id=hook_id,
        namespace_id=namespace_id,
        user_id=owner.owner_id,
        author_id=owner.owner_id,
        payload_url=url,
        ssl=ssl,
        active=active,
        events=list(EVENT_NAMES) if events is None else events,
        secret=marid.app.secrets.seal(secret) if secret else None,
        origin=TEST_ORIGIN,
    )
    marid.app.save(hook)
    return hook_id


def change_hook(marid: Marid, hook_id: int, **changes: Any) -> None:
    """Record a webhook's new state (`Webhook.Updated` carries every field)."""
    hook = marid.app.load(Webhook.create_id(hook_id), Webhook)
    assert hook is not None
    state = {
        "payload_url": hook.payload_url,
        "ssl": hook.ssl,
        "active": hook.active,
        "events": hook.events,
        "secret": hook.secret,
        **changes,
    }
    hook.update(origin=TEST_ORIGIN, **state)
    marid.app.save(hook)


def remove_hook(marid: Marid, hook_id: int) -> None:
    hook = marid.app.load(Webhook.create_id(hook_id), Webhook)
    assert hook is not None
    hook.delete(TEST_ORIGIN)
    marid.app.save(hook)


def self_signed(directory: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 that no CA signed: (certificate file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def eventually(check: Callable[[], T | None], timeout: float = 20.0) -> T:
    """The first truthy result of `check`, polled until `timeout` (state in PostgreSQL
    that no notification announces: a delivery's status)."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "the condition did not become true in time"
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A sender that gave up (timed out) hangs up on a waiting request: expected."""


class Receiver:
    """Records POSTs and answers the queued statuses in turn, then `default`. While `open`
    is cleared a request waits (a slow receiver) until it is set again."""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        """`tls`: (certificate file, key file) to answer HTTPS instead of HTTP."""
        self.received: list[Received] = []
        self.scheme = "https" if tls else "http"
        self.statuses: deque[int] = deque()
        self.default = 200
        self.open = threading.Event()
        self.open.set()
        self.waiting = threading.Event()  # set while a request waits for `open`
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the name http.server dispatches to
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if not receiver.open.is_set():
                    receiver.waiting.set()
                    receiver.open.wait(30)
                status = receiver.statuses.popleft() if receiver.statuses else receiver.default
                with receiver._changed:
                    receiver.received.append(Received(self.path, dict(self.headers), body))
                    receiver._changed.notify_all()
                answer = f"answer {status}".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Block until `count` requests have arrived (at least); all received so far."""
        with self._changed:
            arrived = self._changed.wait_for(lambda: len(self.received) >= count, timeout)
            assert arrived, f"{len(self.received)} requests arrived, expected {count}"
            return list(self.received)

    def on(self, path: str) -> list[Received]:
        with self._changed:
            return [r for r in self.received if r.path == path]

    def close(self) -> None:
        self.open.set()
        self.httpd.shutdown()
        self.httpd.server_close()
