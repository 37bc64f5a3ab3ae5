"""The senders: a few threads that POST due deliveries from the outbox and record them.

Each delivery is claimed for a while (`FOR UPDATE SKIP LOCKED`, so the senders of every
process share one outbox) and the attempt is counted before the POST; the outcome is
recorded after it. A 2xx marks it delivered and it is never sent again; a connection
error, a timeout or any other status schedules a retry after an exponential backoff, up
to the configured number of attempts, then it is failed. A sender that dies mid-POST
leaves the claim to expire and the delivery is tried again: delivery is at least once,
and once it is recorded as delivered, never again.

Only public addresses are POSTed to unless `allow_private_urls` (the image downloader's
checks, on every connection); a refused address is recorded, logged and not retried.
An https receiver's certificate is always checked (the webhook's `ssl` field changes
nothing here; see the README).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from application.ports import SecretBox
from infrastructure.public_http import FetchError, PublicOnlyTransport, UnsafeURLError
from infrastructure.webhooks.store import Attempt, Claimed, WebhookStore

log = logging.getLogger("marid.webhooks")

RESPONSE_KEPT = 64 * 1024  # bytes of a response body recorded with its attempt
USER_AGENT = "Djinn-CI-Hook"
CLAIM_MARGIN = 30.0  # seconds a claim outlives the longest a request can take
# httpx applies the timeout to each phase (connect per address, write, read, pool), so a
# request may take several times it; the claim must outlive that, or a second sender
# would post the same delivery while the first still waits for its answer.
TIMEOUT_PHASES = 4


@dataclass(frozen=True)
class Policy:
    """How hard to try: attempts in all, the first backoff (doubling), the timeout."""

    max_attempts: int = 8
    backoff: float = 10.0
    timeout: float = 30.0

    def retry_in(self, attempt: int) -> float:
        """Seconds before the attempt after `attempt` (1-based)."""
        return float(self.backoff * 2 ** (attempt - 1))


def signature(secret: str, body: bytes) -> str:
    """`X-Djinn-CI-Signature`: HMAC-SHA256 of the body keyed with the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(claimed: Claimed, body: bytes, secret: str | None) -> dict[str, str]:
    """Djinn's request headers (httpx adds Host and Content-Length)."""
    sent = {
        "Accept": "*/*",
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Djinn-CI-Event": claimed.event,
        "X-Djinn-CI-Hook-ID": str(claimed.webhook_id),
    }
    if secret:
        sent["X-Djinn-CI-Signature"] = signature(secret, body)
    return sent


Transport = Callable[[], httpx.BaseTransport]


class Sender:
    """The sender threads of one process; `send_due()` is one pass, for tests too."""

    def __init__(
        self,
        store: WebhookStore,
        secrets: SecretBox,
        policy: Policy,
        *,
        allow_private: bool,
        transport: Transport | None = None,
        workers: int = 4,
        poll_interval: float = 2.0,
        prune: Callable[[], int] = lambda: 0,
        prune_interval: float = 3600.0,
    ) -> None:
        self.store = store
        self.secrets = secrets
        self.policy = policy
        # Certificates are always checked, whatever the webhook's `ssl` says: Djinn checks
        # them either way, and a switch that turns checks off makes a signed payload
        # readable, and forgeable, by anyone on the path.
        self.transport = transport or (lambda: PublicOnlyTransport(allow_private))
        self.workers = workers
        self.poll_interval = poll_interval
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self._stopping = threading.Event()
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []
        self.prune = prune  # deletes old deliveries (history.py); how many
        self.prune_interval = prune_interval
        self._next_prune = 0.0  # monotonic time; the first pass prunes
        self._prune_lock = threading.Lock()

    def start(self) -> None:
        if self._threads:
            return
        for number in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"webhooks-{number}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll."""
        with self._wake:
            self._wake.notify_all()

    def signal_stop(self) -> None:
        self._stopping.set()
        self.wake()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the threads; a POST in flight finishes (within the timeout) first."""
        deadline = time.monotonic() + (timeout or self.policy.timeout + 5)
        for thread in self._threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0))

    def send_due(self) -> int:
        """Send due deliveries one after another until none is due; how many were tried."""
        tried = 0
        while not self._stopping.is_set() and self.send_one():
            tried += 1
        return tried

    def send_one(self) -> bool:
        """Claim, POST and record one due delivery; False when none is due."""
        lease = f"{self.holder}:{uuid.uuid4().hex}"
        claimed = self.store.claim(
            lease, TIMEOUT_PHASES * self.policy.timeout + CLAIM_MARGIN, self.policy.max_attempts
        )
        if claimed is None:
            return False
        attempt, permanent = self.post(claimed)
        delivered = attempt.code is not None and 200 <= attempt.code < 300
        if delivered:
            status = "delivered"
        elif permanent or claimed.attempt >= self.policy.max_attempts:
            status = "failed"
        else:
            status = "pending"
        retry_in = self.policy.retry_in(claimed.attempt) if status == "pending" else 0.0
        level = logging.DEBUG if delivered else logging.WARNING if permanent else logging.INFO
        log.log(
            level,
            "webhook %s delivery %s (%s) attempt %s: %s, %s",
            claimed.webhook_id,
            claimed.id,
            claimed.event,
            claimed.attempt,
            f"HTTP {attempt.code}" if attempt.code is not None else attempt.error,
            "refused, not retried"
            if permanent
            else (f"retry in {retry_in:g}s" if status == "pending" else status),
        )
        if not self.store.record(claimed, attempt, status, retry_in):
            log.warning(
                "delivery %s: dropped (webhook deleted or deactivated) or claimed again before "
                "its attempt was recorded",
                claimed.id,
            )
        return True

    def post(self, claimed: Claimed) -> tuple[Attempt, bool]:
        """POST one delivery; the attempt, and whether trying again is pointless."""
        body = claimed.body.encode()
        try:
            secret = self.secrets.open(claimed.secret) if claimed.secret else None
        except Exception:  # sealed under another MARID_SECRET_KEY: no retry can help
            log.exception("cannot decrypt the secret of webhook %s", claimed.webhook_id)
            return Attempt(None, 0, "cannot decrypt the webhook's secret", ""), True
        deadline = time.monotonic() + self.policy.timeout
        started = time.perf_counter_ns()
        code, kept, error, permanent = None, b"", None, False
        try:
            with (
                httpx.Client(
                    transport=self.transport(),
                    timeout=httpx.Timeout(self.policy.timeout),
                    follow_redirects=False,
                    trust_env=False,
                ) as client,
                client.stream(
                    "POST",
                    claimed.payload_url,
                    content=body,
                    headers=headers(claimed, body, secret),
                ) as response,
            ):
                code = response.status_code
                kept = read_some(response, deadline)
        except UnsafeURLError as exc:
            error, permanent = str(exc), True
        except httpx.TimeoutException:
            error = f"timed out after {self.policy.timeout:g}s"
        except httpx.InvalidURL as exc:
            error, permanent = f"invalid payload URL: {exc}", True
        except (httpx.HTTPError, FetchError) as exc:
            error = str(exc) or type(exc).__name__
        duration = time.perf_counter_ns() - started
        text = kept.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
        return Attempt(code, duration, error, text), permanent

    def prune_if_due(self) -> int:
        """Prune old deliveries once per `prune_interval` in this process (one thread of
        it; several processes pruning is only repeated work); how many went."""
        with self._prune_lock:
            if time.monotonic() < self._next_prune:
                return 0
            self._next_prune = time.monotonic() + self.prune_interval
        pruned = self.prune()
        if pruned:
            log.info("pruned %s webhook deliveries older than 30 days", pruned)
        return pruned

    def _work(self) -> None:
        while not self._stopping.is_set():
            wait = self.poll_interval
            try:
                self.prune_if_due()
                self.send_due()
                due = self.store.seconds_until_due()
                if due is not None:
                    wait = min(max(due, 0.01), self.poll_interval)
            except Exception:
                log.exception("webhook delivery failed; retrying")
            with self._wake:
                if not self._stopping.is_set():
                    self._wake.wait(wait)


def read_some(response: httpx.Response, deadline: float) -> bytes:
    """Up to RESPONSE_KEPT bytes of the body; the rest is not read (a receiver that
    trickles its answer gets until the timeout, counted from the start of the request)."""
    kept = b""
    for chunk in response.iter_bytes():
        kept += chunk
        if len(kept) >= RESPONSE_KEPT or time.monotonic() > deadline:
            break
    return kept[:RESPONSE_KEPT]
