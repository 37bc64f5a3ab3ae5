"""Use cases for crons: create, change, delete, and fire one due time as one build."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime

from eventsourcing.domain import Aggregate

from application.builds import BuildCases
from application.core import Outcome
from application.ports import BuildInputs, NamespaceMembers
from application.resources import Placement, name_key
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


def cron_tag(name: str) -> str:
    return f"cron:{name.replace(' ', '-')}"


def cron_comment(name: str, due: datetime) -> str:
    """Djinn's comment: the due time as Go's `Mon Jan 2 15:04:05 2006` (UTC)."""
    return f"{name}: Scheduled build, next run {due:%a %b} {due.day} {due:%H:%M:%S %Y}"


class CronCases(BuildCases):
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

        def command() -> Outcome[int]:
            errors = Errors()
            validate_cron(errors, name, schedule, timezone)
            parsed = _parse_manifest(manifest, drivers, errors)
            placement = self._cron_placement(parsed, caller_id, origin, errors, name, None)
            assert name is not None  # checked by validate_cron
            assert parsed is not None  # checked by _cron_placement
            cron_id = self.ids.next_id("cron")
            index = self.claim_name("cron", placement, name, cron_id, origin)
            cron = Cron(
                public_id=cron_id,
                owner_id=placement.owner_id,
                author_id=caller_id,
                namespace_id=placement.namespace_id,
                name=name,
                schedule=schedule,
                timezone=timezone,
                manifest=parsed.text,
                next_run=next_run(schedule, timezone, self.clock()),
                origin=origin,
            )
            return Outcome(cron_id, self.save(cron, index, *placement.pending))

        return self.run(command)

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

        def command() -> Outcome[int]:
            cron = self._live_cron(cron_id)
            self.require_write("cron", cron.owner_id, cron.namespace_id, caller_id)
            new_name = name or cron.name
            new_schedule = schedule or cron.schedule
            new_timezone = timezone or cron.timezone
            errors = Errors()
            validate_cron(errors, new_name, new_schedule, new_timezone)
            placement = Placement(cron.owner_id, cron.namespace_id)
            text = cron.manifest
            if not is_blank(manifest):
                parsed = _parse_manifest(manifest, drivers, errors)
                placement = self._cron_placement(
                    parsed, caller_id, origin, errors, new_name, cron_id
                )
                assert parsed is not None  # checked by _cron_placement
                text = parsed.text
            elif new_name != cron.name and self.holder(
                "cron", name_key(placement, new_name)
            ) not in (None, cron_id):
                errors.add("name", "Name already exists")
            errors.raise_if_any()
            indexes: list[Aggregate] = []
            old_key = name_key(Placement(cron.owner_id, cron.namespace_id), cron.name)
            if name_key(placement, new_name) != old_key:
                indexes.append(
                    self.release_name(
                        "cron", cron.owner_id, cron.namespace_id, cron.name, cron_id, origin
                    )
                )
                indexes.append(self.claim_name("cron", placement, new_name, cron_id, origin))
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

        return self.run(command)

    def delete_cron(self, cron_id: int, caller_id: int, origin: Origin) -> Outcome[None]:
        """Delete a cron and free its name; the builds it created stay."""

        def command() -> Outcome[None]:
            cron = self._live_cron(cron_id)
            self.require_write("cron", cron.owner_id, cron.namespace_id, caller_id)
            cron.delete(origin)
            index = self.release_name(
                "cron", cron.owner_id, cron.namespace_id, cron.name, cron_id, origin
            )
            return Outcome(None, self.save(cron, index))

        return self.run(command)

    def going_with_namespaces(
        self, namespace_ids: set[int], members: NamespaceMembers, origin: Origin
    ) -> list[Aggregate]:
        """A namespace's crons go with it, and release their names."""
        going = super().going_with_namespaces(namespace_ids, members, origin)
        for cron_id in members.crons(namespace_ids):
            cron = self.load(Cron.create_id(cron_id), Cron)
            if cron is None or cron.deleted or cron.namespace_id not in namespace_ids:
                continue  # the read model lagged: it is not there any more
            cron.delete(origin)
            index = self.release_name(
                "cron", cron.owner_id, cron.namespace_id, cron.name, cron_id, origin
            )
            going += [cron, index]
        return going

    def fire_due(
        self, cron_id: int, due: datetime, inputs: BuildInputs, drivers: Collection[str]
    ) -> Outcome[int | None]:
        """Fire the cron's run due at `due`: its build and the firing in one save.

        Returns the build's id, or None when there was nothing to do (another scheduler
        fired it, or it changed) or the firing failed; a failure is recorded on the cron.
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

    def _delete_orphan(self, cron_id: int) -> Outcome[int | None]:
        """A cron whose namespace is gone goes too, instead of firing into nowhere.

        Deleting a namespace deletes its crons; this catches one created while that
        deletion ran, and those of namespaces deleted before crons went with them.
        """

        def command() -> Outcome[int | None]:
            cron = self.load(Cron.create_id(cron_id), Cron)
            if cron is None or cron.deleted:
                return Outcome(None, [])
            log.info("cron %s: its namespace %s is gone, deleting it", cron_id, cron.namespace_id)
            cron.delete(SCHEDULER_ORIGIN)
            index = self.release_name(
                "cron", cron.owner_id, cron.namespace_id, cron.name, cron_id, SCHEDULER_ORIGIN
            )
            return Outcome(None, self.save(cron, index))

        return self.run(command)

    def _record_failure(
        self, cron_id: int, due: datetime, now: datetime, error: str
    ) -> Outcome[int | None]:
        def command() -> Outcome[int | None]:
            cron = self.load(Cron.create_id(cron_id), Cron)
            if cron is None:
                return Outcome(None, [])
            try:
                cron.failed(due, now, error, SCHEDULER_ORIGIN)
            except CronNotDueError:
                return Outcome(None, [])
            return Outcome(None, self.save(cron))

        return self.run(command)

    def _live_cron(self, cron_id: int) -> Cron:
        cron = self.load(Cron.create_id(cron_id), Cron)
        if cron is None or cron.deleted:
            raise NotFoundError("cron")
        return cron

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
        try:
            placement = self._build_placement(parsed, caller_id, origin)
        except NamespacePermissionError:
            errors.raise_if_any()
            raise
        except ValidationError as exc:
            for failed, messages in exc.fields.items():
                errors.extend(failed, messages)
            raise ValidationError(errors.fields) from None
        if name and self.holder("cron", name_key(placement, name)) not in (None, cron_id):
            errors.add("name", "Name already exists")
        errors.raise_if_any()
        return placement


def _parse_manifest(text: str | None, drivers: Collection[str], errors: Errors) -> Manifest | None:
    try:
        return Manifest.parse(text, drivers)
    except ValidationError as exc:
        for failed, messages in exc.fields.items():
            errors.extend(failed, messages)
        return None
