"""What a build takes with it when it is submitted: its objects, variables and keys as they
are then, and the ids of its rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from application.ids import IdAllocator
from application.ports import BuildInputs
from domain.errors import Errors
from domain.manifest import PREFIX, Manifest

KEY_DIR = "/root/.ssh"

Row = dict[str, Any]


@dataclass(frozen=True)
class BuildSnapshot:
    """The rows a new build records, each numbered."""

    objects: list[Row]
    variables: list[Row]
    keys: list[Row]


def take_snapshot(
    parsed: Manifest, owner_id: int, namespace_id: int | None, inputs: BuildInputs
) -> BuildSnapshot:
    """The stored resources a build of `parsed` uses where it runs (not yet numbered)."""
    return BuildSnapshot(
        objects=snapshot_objects(parsed, owner_id, namespace_id, inputs),
        variables=snapshot_variables(parsed, owner_id, namespace_id, inputs),
        keys=snapshot_keys(owner_id, namespace_id, inputs),
    )


def number_snapshot(ids: IdAllocator, snapshot: BuildSnapshot) -> None:
    number_rows(ids, "build_variable", snapshot.variables)
    number_rows(ids, "build_key", snapshot.keys)
    number_rows(ids, "build_object", snapshot.objects)


def number_jobs(ids: IdAllocator, jobs: list[Row]) -> None:
    number_rows(ids, "build_job", jobs)
    number_rows(ids, "build_artifact", [artifact for job in jobs for artifact in job["artifacts"]])


def number_rows(ids: IdAllocator, kind: str, rows: list[Row]) -> None:
    for row, row_id in zip(rows, ids.next_ids(kind, len(rows)), strict=True):
        row["id"] = row_id


def snapshot_objects(
    parsed: Manifest, owner_id: int, namespace_id: int | None, inputs: BuildInputs
) -> list[Row]:
    """The manifest's objects by name; a namespace's object wins over a personal one."""
    available: dict[str, int] = {}
    for row in inputs.objects(owner_id, namespace_id):
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


def snapshot_variables(
    parsed: Manifest, owner_id: int, namespace_id: int | None, inputs: BuildInputs
) -> list[Row]:
    """Stored variables (masked ones stay sealed), then the manifest's `env`."""
    variables = [
        {
            "variable_id": row["variable_id"],
            "key": row["key"],
            "value": row["value"],
            "masked": bool(row["masked"]),
        }
        for row in inputs.variables(owner_id, namespace_id)
    ]
    variables += [
        {"variable_id": None, "key": key, "value": value, "masked": False}
        for key, value in parsed.env
    ]
    return variables


def snapshot_keys(owner_id: int, namespace_id: int | None, inputs: BuildInputs) -> list[Row]:
    return [
        {
            "key_id": row["key_id"],
            "name": row["name"],
            "config": row["config"],
            "key": row["key"],
            "location": f"{KEY_DIR}/{row['name']}",
        }
        for row in inputs.keys(owner_id, namespace_id)
    ]
