"""Use cases for builds: submission with its snapshot, tags, pin and kill."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording

from application.build_snapshot import BuildSnapshot, number_jobs, number_snapshot, take_snapshot
from application.core import Outcome, command
from application.ports import BuildInputs
from application.resources import Placement, ResourceCases
from domain.builds import Build, BuildCounter, plan, valid_tag
from domain.errors import NotFoundError, ValidationError
from domain.identity import aggregate_id
from domain.index import Index
from domain.manifest import PREFIX, Manifest
from domain.namespace_ref import NamespaceRef, NamespaceRefError
from domain.origin import Origin
from domain.users import User

# Every concurrent submit for one owner races for the owner's counter, and each lost race
# means another submit won: allow enough attempts for a burst of parallel submits.
SUBMIT_ATTEMPTS = 100
# How long an `Idempotency-Key` keeps answering with the build it first created.
IDEMPOTENCY_WINDOW = timedelta(hours=24)
IDEMPOTENCY = "build-request"


_COUNTER_LOCKS: dict[int, threading.Lock] = {}
_COUNTER_LOCKS_GUARD = threading.Lock()


def counter_lock(owner_id: int) -> threading.Lock:
    """The lock that serialises one owner's submits within this process."""
    with _COUNTER_LOCKS_GUARD:
        return _COUNTER_LOCKS.setdefault(owner_id, threading.Lock())


@dataclass(frozen=True)
class BuildDraft:
    """A build decided but for its number, which the owner's counter gives when it is saved."""

    build_id: int
    submitter_id: int
    placement: Placement
    parsed: Manifest
    trigger: dict[str, Any]
    snapshot: BuildSnapshot
    tags: list[dict[str, Any]]


class BuildCases(ResourceCases):
    @command(attempts=SUBMIT_ATTEMPTS)
    def submit_build(
        self,
        caller_id: int,
        manifest: str | None,
        comment: str | None,
        tags: list[str] | None,
        drivers: Collection[str],
        inputs: BuildInputs,
        origin: Origin,
        *,
        trigger_type: str = "manual",
        system_tags: Sequence[str] = (),
        attach: Callable[[int], Sequence[Aggregate]] | None = None,
        idempotency_key: str | None = None,
    ) -> Outcome[int]:
        """Submit a build: the owner's next number, its plan and snapshot, in one save.

        With an `idempotency_key`, the caller's first submit with that key in the last 24
        hours is the only one: a repeat answers with its build and no recordings (nothing
        was written). The key is claimed in the same save as the build, so of two
        concurrent submits with one key, one builds and the other finds its build.

        `attach(build_id)` gives aggregates to save with the build (e.g. the firing cron);
        it runs on each attempt, after the reloads, and may raise to abandon the submit.
        `system_tags` are marid's own (e.g. `cron:<name>`), exempt from the tag name rule.

        The counter is loaded last, just before the save, so that the window in which a
        concurrent submit can take the same number is short; a lost race runs again.
        """
        request_key = None if idempotency_key is None else f"{caller_id}:{idempotency_key}"
        earlier = self._earlier_build(request_key)
        if earlier is not None:
            return Outcome(earlier, [])
        parsed = Manifest.parse(manifest, drivers)
        submitter = self.get(aggregate_id("user", caller_id), User, "user")
        placement = self._build_placement(parsed, caller_id, origin)
        snapshot = take_snapshot(parsed, placement.owner_id, placement.namespace_id, inputs)
        build_id = self.ids.next_id("build")
        number_snapshot(self.ids, snapshot)
        tag_names = list(
            dict.fromkeys(
                [*system_tags, *(t for t in tags or [] if isinstance(t, str) and valid_tag(t))]
            )
        )
        tag_ids = self.ids.next_ids("build_tag", len(tag_names))
        draft = BuildDraft(
            build_id=build_id,
            submitter_id=caller_id,
            placement=placement,
            parsed=parsed,
            trigger={
                "type": trigger_type,
                "comment": comment or "",
                "data": {"email": submitter.email, "username": submitter.username},
            },
            snapshot=snapshot,
            tags=[
                {"id": tag_id, "name": name, "user_id": caller_id}
                for tag_id, name in zip(tag_ids, tag_names, strict=True)
            ],
        )
        # One submit per owner at a time in this process: concurrent submits would
        # otherwise mostly collide on the counter and redo all of the work above.
        # Other processes still collide, and the counter's version makes them retry.
        with counter_lock(placement.owner_id):
            earlier = self._earlier_build(request_key)
            if earlier is not None:  # a concurrent submit with the key won the race
                return Outcome(earlier, [])
            return Outcome(build_id, self._save_build(draft, origin, attach, request_key))

    def _save_build(
        self,
        draft: BuildDraft,
        origin: Origin,
        attach: Callable[[int], Sequence[Aggregate]] | None,
        request_key: str | None,
    ) -> list[Recording[UUID]]:
        """Number the build from its owner's counter; save it with all that goes with it."""
        owner_id = draft.placement.owner_id
        counter = self.load(BuildCounter.create_id(owner_id), BuildCounter)
        if counter is None:
            counter = BuildCounter(owner_id=owner_id, origin=origin)
        number = counter.next_number(origin)
        stages, jobs = plan(draft.parsed, number)
        number_jobs(self.ids, jobs)
        build = Build(
            public_id=draft.build_id,
            number=number,
            owner_id=owner_id,
            namespace_id=draft.placement.namespace_id,
            submitter_id=draft.submitter_id,
            manifest=draft.parsed.text,
            driver=dict(draft.parsed.driver),
            trigger=draft.trigger,
            stages=stages,
            jobs=jobs,
            variables=draft.snapshot.variables,
            keys=draft.snapshot.keys,
            objects=draft.snapshot.objects,
            tags=draft.tags,
            origin=origin,
        )
        attached = list(attach(draft.build_id)) if attach is not None else []
        if request_key is not None:
            attached.append(self._claim_request(request_key, draft.build_id, origin))
        return self.save(build, counter, *draft.placement.pending, *attached)

    def _earlier_build(self, request_key: str | None) -> int | None:
        """The build an idempotency key made in the last 24 hours, if any."""
        if request_key is None:
            return None
        index = self.find_index(IDEMPOTENCY, request_key)
        if index is None or index.holder is None:
            return None
        if self.clock() - index.modified_on >= IDEMPOTENCY_WINDOW:
            return None
        return index.holder

    def _claim_request(self, request_key: str, build_id: int, origin: Origin) -> Index:
        """The key's index, held by this build from now on: called once `_earlier_build`
        found no live holder, so a holder left is past its window and is taken over. A
        concurrent claim makes one of the saves fail, and its command runs again."""
        index = self.find_index(IDEMPOTENCY, request_key)
        if index is None:
            return Index(kind=IDEMPOTENCY, key=request_key, holder=build_id, origin=origin)
        if index.holder is not None:
            index.release(index.holder, origin)
        index.claim(build_id, origin)
        return index

    def _build_placement(self, parsed: Manifest, caller_id: int, origin: Origin) -> Placement:
        """The manifest's namespace resolved like any reference; problems go under `manifest`."""
        if parsed.namespace is None or not parsed.namespace.strip():
            return Placement(caller_id, None)
        try:
            ref = NamespaceRef.parse(parsed.namespace)
        except NamespaceRefError as exc:
            raise ValidationError({"manifest": [f"{PREFIX}{exc}"]}) from None
        try:
            resolution = self.resolve_namespace(ref, caller_id, origin, "manifest")
        except ValidationError as exc:
            messages = [f"{PREFIX}{m[:1].lower()}{m[1:]}" for m in exc.fields["manifest"]]
            raise ValidationError({"manifest": messages}) from None
        return Placement(resolution.owner_id, resolution.namespace_id, resolution.pending)

    def _build(self, build_id: int) -> Build:
        return self.get(Build.create_id(build_id), Build, "build")

    def _writable_build(self, build_id: int, caller_id: int) -> Build:
        """The build, if the caller may change it (else 404: see `require_write`)."""
        build = self._build(build_id)
        self.require_write("build", build.owner_id, build.namespace_id, caller_id)
        return build

    @command
    def tag_build(
        self, build_id: int, caller_id: int, names: list[str], origin: Origin
    ) -> Outcome[list[str]]:
        """Add the valid names the build lacks; return the names added."""
        build = self._writable_build(build_id, caller_id)
        candidates = list(dict.fromkeys(n for n in names if valid_tag(n) and n not in build.tags))
        ids = self.ids.next_ids("build_tag", len(candidates))
        added = build.tag(list(zip(ids, candidates, strict=True)), caller_id, origin)
        return Outcome(added, self.save(build) if added else [])

    @command
    def untag_build(
        self, build_id: int, caller_id: int, name: str, origin: Origin
    ) -> Outcome[None]:
        """Remove a tag; an absent tag is not found (404 comes before 422)."""
        build = self._build(build_id)
        if name not in build.tags:
            raise NotFoundError("tag")
        self.require_write("build", build.owner_id, build.namespace_id, caller_id)
        build.untag(name, origin)
        return Outcome(None, self.save(build))

    @command
    def pin_build(
        self, build_id: int, caller_id: int, pinned: bool, origin: Origin
    ) -> Outcome[None]:
        build = self._writable_build(build_id, caller_id)
        if pinned:
            build.pin(origin)
        else:
            build.unpin(origin)
        return Outcome(None, self.save(build))

    @command
    def kill_build(self, build_id: int, caller_id: int, origin: Origin) -> Outcome[None]:
        """Queued: killed now; running: the request is recorded; finished: nothing changes."""
        build = self._writable_build(build_id, caller_id)
        build.kill(origin)
        return Outcome(None, self.save(build))
