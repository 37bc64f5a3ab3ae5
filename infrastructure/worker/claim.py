"""A build's claim as its run holds it: the commands issued under it, and its lease kept.

Every command names the claim. `LostClaim` means another worker holds the build now (or it
has ended): the run is cancelled as `lost` and issues nothing more (`Abandoned`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from application.core import Outcome
from application.execution import LostClaim
from domain.builds import BuildStatus
from domain.origin import Origin
from infrastructure.drivers import Cancel

log = logging.getLogger("marid.worker")
ABANDONED = ("lost", "shutdown")  # reasons to stop without finishing the build


class ExecutionApp(Protocol):
    """The use cases a worker issues while it holds a claim (application/execution.py)."""

    def renew_lease(
        self, build_id: int, claim: str, lease: timedelta, origin: Origin
    ) -> Outcome[bool]: ...
    def start_job(
        self, build_id: int, claim: str, job_id: int, origin: Origin
    ) -> Outcome[None]: ...
    def finish_job(
        self, build_id: int, claim: str, job_id: int, status: str, origin: Origin
    ) -> Outcome[None]: ...
    def record_artifact(
        self,
        build_id: int,
        claim: str,
        artifact_id: int,
        size: int | None,
        md5: str | None,
        sha256: str | None,
        origin: Origin,
    ) -> Outcome[None]: ...
    def finish_build(
        self, build_id: int, claim: str, status: str, origin: Origin
    ) -> Outcome[None]: ...


class Abandoned(Exception):  # noqa: N818 - control flow, not a fault
    """Raised inside a run when its claim is gone or the worker stops."""


class HeldClaim:
    """One claim of one build, and the `cancel` of the run that holds it."""

    def __init__(
        self, app: ExecutionApp, build_id: int, claim: str, origin: Origin, cancel: Cancel
    ) -> None:
        self.app = app
        self.build_id = build_id
        self.claim = claim
        self.origin = origin
        self.cancel = cancel

    @property
    def abandoned(self) -> bool:
        return self.cancel.reason in ABANDONED

    def command(self, use_case: Callable[..., Outcome[Any]], *args: Any) -> None:
        """Issue a claim-holding command; on a lost claim stop everything, issue nothing more."""
        if self.abandoned:
            raise Abandoned()
        try:
            use_case(self.build_id, self.claim, *args, self.origin)
        except LostClaim:
            self.cancel.set("lost")
            raise Abandoned() from None

    def keep_lease(self, lease: timedelta, done: threading.Event) -> None:
        """Renew the lease every third of it until `done`; a kill request or a lost claim
        stops the run.

        If renewing keeps failing (the database is away), stop before the lease can run out,
        as if the claim were lost: after that another worker may take the build, and the two
        must never run it at once. A renewal counts from when it was sent.
        """
        seconds = lease.total_seconds()
        last_ok = time.monotonic()
        while not done.wait(seconds / 3):
            sent = time.monotonic()
            try:
                kill = self.app.renew_lease(self.build_id, self.claim, lease, self.origin).value
            except LostClaim:
                self.cancel.set("lost")
                return
            except Exception:
                log.exception("renewing the lease of build %s failed", self.build_id)
                if time.monotonic() - last_ok > seconds * 2 / 3:
                    self.cancel.set("lost")
                    return
                continue
            last_ok = sent
            if kill:
                self.cancel.set(BuildStatus.KILLED)
