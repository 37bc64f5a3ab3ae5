"""Use cases for crons: create, change, delete, and fire one due time as one build."""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection, Sequence
from datetime import datetime

from eventsourcing.domain import Aggregate

from application.builds import BuildCases
from application.core import Outcome, command
from application.ports import BuildInputs, NamespaceMembers
from application.resources import Placement, ResourceKind, name_key
from domain.crons import Cron, CronNotDueError, validate_cron
from domain.errors import (
    Errors,
    NamespacePermissionError,
    NotFoundError,
    ValidationError,
)
from domain.manifest import Manifest, is_blank
from domain.origin import Origin
from domain.schedules import DEFAULT_SCHEDULE, DEFAULT_TIMEZONE, next_run

log = logging.getLogger("marid.cron")
SCHEDULER_ORIGIN = Origin.system("scheduler")
CRONS = ResourceKind(Cron)


def cron_tag(name: str) -> str:
    return f"cron:{name.replace(' ', '-')}"


def cron_comment(name: str, due: datetime) -> str:
    """Djinn's comment: the due time as Go's `Mon Jan 2 15:04:05 2006` (UTC)."""
    return f"{name}: Scheduled build, next run {due:%a %b} {due.day} {due:%H:%M:%S %Y}"


class CronCases(BuildCases):
    @command
    def create_cron(
        self,
        caller_id: int,
        name: str | None,
        schedule: str | None,
        timezone: str | None,
        manifest: str | None,
        drivers: Collection[str],
        origin: Origin,
    ) -> Outcome[int]:
        """Create a cron in its manifest's namespace; `next_run` is computed from now."""
        schedule = schedule or DEFAULT_SCHEDULE
        timezone = timezone or DEFAULT_TIMEZONE
        errors = Errors()
        validate_cron(errors, name, schedule, timezone)
        parsed = _parse_manifest(manifest, drivers, errors)
        placement = self._cron_placement(parsed, caller_id, origin, errors, name, None)
        assert name is not None  # checked by validate_cron
        assert parsed is not None  # checked by _cron_placement
        new = self.claim_new(CRONS, placement, name, caller_id, origin)
        cron = Cron(
            public_id=new.id,
            **new.ownership,
            name=new.name,
            schedule=schedule,
            timezone=timezone,
            manifest=parsed.text,
            next_run=next_run(schedule, timezone, self.clock()),
            origin=origin,
        )
        return Outcome(new.id, self.save(cron, *new.saved_with))

    @command
    def update_cron(
        self,
        cron_id: int,
        caller_id: int,
        name: str | None,
        schedule: str | None,
        timezone: str | None,
        manifest: str | None,
        drivers: Collection[str],
        origin: Origin,
    ) -> Outcome[int]:
        """Change what is given (empty keeps the current value); `next_run` is recomputed.

        A new manifest may move the cron to another namespace, where its name must be free.
        """
        cron = self.writable(CRONS, cron_id, caller_id)
        new_name = name or cron.name
        new_schedule = schedule or cron.schedule
        new_timezone = timezone or cron.timezone
        errors = Errors()
        validate_cron(errors, new_name, new_schedule, new_timezone)
        current = Placement.of(cron)
        if is_blank(manifest):
            text = cron.manifest
            placement = self.check_placement(errors, CRONS, new_name, lambda: current, cron_id)
        else:
            parsed = _parse_manifest(manifest, drivers, errors)
            placement = self._cron_placement(parsed, caller_id, origin, errors, new_name, cron_id)
            assert parsed is not None  # checked by _cron_placement
            text = parsed.text
        indexes: list[Aggregate] = []
        if name_key(placement, new_name) != name_key(current, cron.name):
            indexes.append(self.release_name(CRONS, current, cron.name, cron_id, origin))
            indexes.append(self.claim_name(CRONS, placement, new_name, cron_id, origin))
        cron.update(
            owner_id=placement.owner_id,
            namespace_id=placement.namespace_id,
            name=new_name,
            schedule=new_schedule,
            timezone=new_timezone,
            manifest=text,
            now=self.clock(),
            origin=origin,
        )
        return Outcome(cron_id, self.save(cron, *indexes, *placement.pending))

    @command
    def delete_cron(self, cron_id: int, caller_id: int, origin: Origin) -> Outcome[None]:
        """Delete a cron and free its name; the builds it created stay."""
        _, recordings = self.delete_resource(CRONS, cron_id, caller_id, origin)
        return Outcome(None, recordings)

    def going_with_namespaces(
        self, namespace_ids: set[int], members: NamespaceMembers, origin: Origin
    ) -> list[Aggregate]:
        """A namespace's crons go with it, and release their names."""
        going = super().going_with_namespaces(namespace_ids, members, origin)
        for cron_id in members.crons(namespace_ids):
            cron = self.load(Cron.create_id(cron_id), Cron)
            if cron is None or cron.deleted or cron.namespace_id not in namespace_ids:
                continue  # the read model lagged: it is not there any more
            going += [cron, self.delete_and_release(CRONS, cron, origin)]
        return going

    def fire_due(
        self, cron_id: int, due: datetime, inputs: BuildInputs, drivers: Collection[str]
    ) -> Outcome[int | None]:
        """Fire the cron's run due at `due`: its build and the firing in one save.

        Returns the build's id, or None when there was nothing to do (another scheduler
        fired it, or it changed) or the firing failed; a failure is recorded on the cron.
        Not a command itself: the submit and the failure it records are.
        """
        now = self.clock()
        cron = self.load(Cron.create_id(cron_id), Cron)
        if cron is None:
            return Outcome(None, [])
        try:
            cron.check_due(due, now)
        except CronNotDueError:
            return Outcome(None, [])
        if cron.namespace_id is not None and self.namespace(cron.namespace_id) is None:
            return self._delete_orphan(cron_id)

        def attach(build_id: int) -> Sequence[Aggregate]:
            current = self.load(Cron.create_id(cron_id), Cron)
            if current is None:
                raise CronNotDueError(cron_id, due)
            current.fire(due, now, build_id, SCHEDULER_ORIGIN)
            return [current]

        try:
            outcome = self.submit_build(
                cron.owner_id,
                cron.manifest,
                cron_comment(cron.name, due),
                None,
                drivers,
                inputs,
                SCHEDULER_ORIGIN,
                trigger_type="schedule",
                system_tags=[cron_tag(cron.name)],
                attach=attach,
            )
        except CronNotDueError:
            return Outcome(None, [])
        except (ValidationError, NamespacePermissionError, NotFoundError) as exc:
            log.warning("cron %s could not fire for %s: %s", cron_id, due.isoformat(), exc)
            return self._record_failure(cron_id, due, now, str(exc))
        return Outcome(outcome.value, outcome.recordings)

    @command
    def _delete_orphan(self, cron_id: int) -> Outcome[int | None]:
        """A cron whose namespace is gone goes too, instead of firing into nowhere.

        Deleting a namespace deletes its crons; this catches one created while that
        deletion ran, and those of namespaces deleted before crons went with them.
        """
        cron = self.load(Cron.create_id(cron_id), Cron)
        if cron is None or cron.deleted:
            return Outcome(None, [])
        log.info("cron %s: its namespace %s is gone, deleting it", cron_id, cron.namespace_id)
        index = self.delete_and_release(CRONS, cron, SCHEDULER_ORIGIN)
        return Outcome(None, self.save(cron, index))

    @command
    def _record_failure(
        self, cron_id: int, due: datetime, now: datetime, error: str
    ) -> Outcome[int | None]:
        cron = self.load(Cron.create_id(cron_id), Cron)
        if cron is None:
            return Outcome(None, [])
        try:
            cron.failed(due, now, error, SCHEDULER_ORIGIN)
        except CronNotDueError:
            return Outcome(None, [])
        return Outcome(None, self.save(cron))

    def _cron_placement(
        self,
        parsed: Manifest | None,
        caller_id: int,
        origin: Origin,
        errors: Errors,
        name: str | None,
        cron_id: int | None,
    ) -> Placement:
        """The manifest's namespace (as for builds) and a free name; every field error
        together, and field errors (400) before a namespace refusal (422)."""
        if parsed is None:
            errors.raise_if_any()
        assert parsed is not None
        resolve = functools.partial(self._build_placement, parsed, caller_id, origin)
        return self.check_placement(errors, CRONS, name, resolve, cron_id)


def _parse_manifest(text: str | None, drivers: Collection[str], errors: Errors) -> Manifest | None:
    try:
        return Manifest.parse(text, drivers)
    except ValidationError as exc:
        for failed, messages in exc.fields.items():
            errors.extend(failed, messages)
        return None
