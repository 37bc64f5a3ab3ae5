"""Use cases for builds: submission with its snapshot, tags, pin and kill."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from datetime import timedelta
from typing import Any

from eventsourcing.domain import Aggregate

from application.core import Outcome
from application.ports import BuildInputs
from application.resources import Placement, ResourceCases
from domain.builds import Build, BuildCounter, plan, valid_tag
from domain.errors import Errors, NotFoundError, ValidationError
from domain.identity import aggregate_id, index_id
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
KEY_DIR = "/root/.ssh"


_COUNTER_LOCKS: dict[int, threading.Lock] = {}
_COUNTER_LOCKS_GUARD = threading.Lock()


def counter_lock(owner_id: int) -> threading.Lock:
    """The lock that serialises one owner's submits within this process."""
    with _COUNTER_LOCKS_GUARD:
        return _COUNTER_LOCKS.setdefault(owner_id, threading.Lock())


class BuildCases(ResourceCases):
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
        submitter = self.load(aggregate_id("user", caller_id), User)
        if submitter is None:
            raise NotFoundError("user")
        trigger = {
            "type": trigger_type,
            "comment": comment or "",
            "data": {"email": submitter.email, "username": submitter.username},
        }
        tag_names = list(
            dict.fromkeys(
                [*system_tags, *(t for t in tags or [] if isinstance(t, str) and valid_tag(t))]
            )
        )

        def command() -> Outcome[int]:
            placement = self._build_placement(parsed, caller_id, origin)
            objects = self._snapshot_objects(parsed, placement, inputs)
            variables = self._snapshot_variables(parsed, placement, inputs)
            keys = self._snapshot_keys(placement, inputs)
            build_id = self.ids.next_id("build")
            self._number_rows("build_variable", variables)
            self._number_rows("build_key", keys)
            self._number_rows("build_object", objects)
            tag_rows = [
                {"id": tag_id, "name": name, "user_id": caller_id}
                for tag_id, name in zip(
                    self.ids.next_ids("build_tag", len(tag_names)), tag_names, strict=True
                )
            ]
            # One submit per owner at a time in this process: concurrent submits would
            # otherwise mostly collide on the counter and redo all of the work above.
            # Other processes still collide, and the counter's version makes them retry.
            with counter_lock(placement.owner_id):
                return save(placement, objects, variables, keys, build_id, tag_rows)

        def save(
            placement: Placement,
            objects: list[dict[str, Any]],
            variables: list[dict[str, Any]],
            keys: list[dict[str, Any]],
            build_id: int,
            tag_rows: list[dict[str, Any]],
        ) -> Outcome[int]:
            earlier = self._earlier_build(request_key)
            if earlier is not None:  # a concurrent submit with the key won the race
                return Outcome(earlier, [])
            counter = self.load(BuildCounter.create_id(placement.owner_id), BuildCounter)
            if counter is None:
                counter = BuildCounter(owner_id=placement.owner_id, origin=origin)
            number = counter.next_number(origin)
            stages, jobs = plan(parsed, number)
            self._number_jobs(jobs)
            build = Build(
                public_id=build_id,
                number=number,
                owner_id=placement.owner_id,
                namespace_id=placement.namespace_id,
                submitter_id=caller_id,
                manifest=parsed.text,
                driver=dict(parsed.driver),
                trigger=trigger,
                stages=stages,
                jobs=jobs,
                variables=variables,
                keys=keys,
                objects=objects,
                tags=tag_rows,
                origin=origin,
            )
            attached = list(attach(build_id)) if attach is not None else []
            if request_key is not None:
                attached.append(self._claim_request(request_key, build_id, origin))
            return Outcome(build_id, self.save(build, counter, *placement.pending, *attached))

        return self.run(command, attempts=SUBMIT_ATTEMPTS)

    def _earlier_build(self, request_key: str | None) -> int | None:
        """The build an idempotency key made in the last 24 hours, if any."""
        if request_key is None:
            return None
        index = self.load(index_id(IDEMPOTENCY, request_key), Index)
        if index is None or index.holder is None:
            return None
        if self.clock() - index.modified_on >= IDEMPOTENCY_WINDOW:
            return None
        return index.holder

    def _claim_request(self, request_key: str, build_id: int, origin: Origin) -> Index:
        """The key's index, held by this build from now on: called once `_earlier_build`
        found no live holder, so a holder left is past its window and is taken over. A
        concurrent claim makes one of the saves fail, and its command runs again."""
        index = self.load(index_id(IDEMPOTENCY, request_key), Index)
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

    @staticmethod
    def _snapshot_objects(
        parsed: Manifest, placement: Placement, inputs: BuildInputs
    ) -> list[dict[str, Any]]:
        """The manifest's objects by name; a namespace's object wins over a personal one."""
        available: dict[str, int] = {}
        for row in inputs.objects(placement.owner_id, placement.namespace_id):
            available[row["name"]] = row["object_id"]  # personal first, namespace after
        errors = Errors()
        objects = []
        for item in parsed.objects:
            object_id = available.get(item.source)
            if object_id is None:
                errors.add("manifest", f'{PREFIX}object "{item.source}" not found')
                continue
            objects.append(
                {"object_id": object_id, "name": item.source, "destination": item.destination}
            )
        errors.raise_if_any()
        return objects

    @staticmethod
    def _snapshot_variables(
        parsed: Manifest, placement: Placement, inputs: BuildInputs
    ) -> list[dict[str, Any]]:
        """Stored variables (masked ones stay sealed), then the manifest's `env`."""
        variables = [
            {
                "variable_id": row["variable_id"],
                "key": row["key"],
                "value": row["value"],
                "masked": bool(row["masked"]),
            }
            for row in inputs.variables(placement.owner_id, placement.namespace_id)
        ]
        variables += [
            {"variable_id": None, "key": key, "value": value, "masked": False}
            for key, value in parsed.env
        ]
        return variables

    @staticmethod
    def _snapshot_keys(placement: Placement, inputs: BuildInputs) -> list[dict[str, Any]]:
        return [
            {
                "key_id": row["key_id"],
                "name": row["name"],
                "config": row["config"],
                "key": row["key"],
                "location": f"{KEY_DIR}/{row['name']}",
            }
            for row in inputs.keys(placement.owner_id, placement.namespace_id)
        ]

    def _number_rows(self, kind: str, rows: list[dict[str, Any]]) -> None:
        for row, row_id in zip(rows, self.ids.next_ids(kind, len(rows)), strict=True):
            row["id"] = row_id

    def _number_jobs(self, jobs: list[dict[str, Any]]) -> None:
        self._number_rows("build_job", jobs)
        artifacts = [artifact for job in jobs for artifact in job["artifacts"]]
        self._number_rows("build_artifact", artifacts)

    def _writable_build(self, build_id: int, caller_id: int) -> Build:
        """The build, if the caller may change it (else 404: see `require_write`)."""
        build = self.load(Build.create_id(build_id), Build)
        if build is None:
            raise NotFoundError("build")
        self.require_write("build", build.owner_id, build.namespace_id, caller_id)
        return build

    def tag_build(
        self, build_id: int, caller_id: int, names: list[str], origin: Origin
    ) -> Outcome[list[str]]:
        """Add the valid names the build lacks; return the names added."""

        def command() -> Outcome[list[str]]:
            build = self._writable_build(build_id, caller_id)
            candidates = list(
                dict.fromkeys(n for n in names if valid_tag(n) and n not in build.tags)
            )
            ids = self.ids.next_ids("build_tag", len(candidates))
            added = build.tag(list(zip(ids, candidates, strict=True)), caller_id, origin)
            return Outcome(added, self.save(build) if added else [])

        return self.run(command)

    def untag_build(
        self, build_id: int, caller_id: int, name: str, origin: Origin
    ) -> Outcome[None]:
        """Remove a tag; an absent tag is not found (404 comes before 422)."""

        def command() -> Outcome[None]:
            build = self.load(Build.create_id(build_id), Build)
            if build is None:
                raise NotFoundError("build")
            if name not in build.tags:
                raise NotFoundError("tag")
            self.require_write("build", build.owner_id, build.namespace_id, caller_id)
            build.untag(name, origin)
            return Outcome(None, self.save(build))

        return self.run(command)

    def pin_build(
        self, build_id: int, caller_id: int, pinned: bool, origin: Origin
    ) -> Outcome[None]:
        def command() -> Outcome[None]:
            build = self._writable_build(build_id, caller_id)
            if pinned:
                build.pin(origin)
            else:
                build.unpin(origin)
            return Outcome(None, self.save(build))

        return self.run(command)

    def kill_build(self, build_id: int, caller_id: int, origin: Origin) -> Outcome[None]:
        """Queued: killed now; running: the request is recorded; finished: nothing changes."""

        def command() -> Outcome[None]:
            build = self._writable_build(build_id, caller_id)
            build.kill(origin)
            return Outcome(None, self.save(build))

        return self.run(command)
