"""The orphan sweeper on both stores: blobs no read model names are removed once older than
the grace period; named ones and young ones are kept."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from application.core import utcnow
from infrastructure.blob_sweeper import GRACE, BlobSweeper
from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from tests.conftest import Users
from tests.helpers import Auth, Client

BINARY = "application/octet-stream"
QEMU_DISK = "application/x-qemu-disk"
QCOW2 = b"QFI\xfb\x00\x00\x00\x03" + bytes(512)


@pytest.fixture(params=["file", "s3"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    if request.param == "file":
        return settings
    s3 = request.getfixturevalue("s3")
    return dataclasses.replace(settings, blob_url=s3.url("sweep"))


def sweeper(marid: Marid, clock: Callable[[], datetime] = utcnow) -> BlobSweeper:
    recorder = marid.app.recorder
    return BlobSweeper(
        marid.blobs, marid.datastore, marid.read_models, recorder.max_notification_id, clock=clock
    )


def later() -> datetime:
    return utcnow() + GRACE + timedelta(minutes=1)


def keys(marid: Marid) -> list[str]:
    return sorted(key for key, _ in marid.blobs.listing())


def upload(client: Client, auth: Auth, path: str, content: bytes, media: str) -> int:
    headers = {**auth, "Content-Type": media}
    name = content[:4].hex()
    response = client.post(path, params={"name": name}, content=content, headers=headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def add_artifact(marid: Marid, artifact_id: int, deleted: bool) -> str:
    """An artifact row as the builds read model keeps it, and its blob."""
    with marid.datastore.transaction(commit=True) as curs:
        curs.execute(
            "INSERT INTO build_artifacts (id, build_id, job_id, user_id, source, name, size, "
            "created_at, deleted_at) VALUES (%s, 1, 1, 1, 'out', 'out', 1, now(), "
            f"{'now()' if deleted else 'NULL'})",
            (artifact_id,),
        )
    key = f"artifacts/1/{artifact_id}"
    marid.blobs.put(key, iter([b"artifact"]))
    return key


@pytest.fixture
def alice(users: Users) -> Auth:
    return users.create("alice")[1]


@pytest.fixture
def world(client: Client, alice: Auth, marid: Marid) -> dict[str, str]:
    """Named blobs (an object, an image, a live artifact) and orphans (a deleted object's
    file left by a crash, a deleted artifact's, one nothing ever named)."""
    kept_object = upload(client, alice, "/api/objects", b"kept", BINARY)
    gone_object = upload(client, alice, "/api/objects", b"gone", BINARY)
    assert client.delete(f"/api/objects/{gone_object}", headers=alice).status_code == 204
    marid.blobs.put(f"objects/{gone_object}", iter([b"left by a crash"]))
    upload(client, alice, "/api/images", QCOW2, QEMU_DISK)
    image_key = next(k for k in keys(marid) if k.startswith("images/"))
    marid.blobs.put("objects/999999", iter([b"never named"]))
    return {
        "object": f"objects/{kept_object}",
        "image": image_key,
        "artifact": add_artifact(marid, 1, deleted=False),
        "crashed": f"objects/{gone_object}",
        "deleted artifact": add_artifact(marid, 2, deleted=True),
        "unnamed": "objects/999999",
    }


ORPHANS = ("crashed", "deleted artifact", "unnamed")
NAMED = ("object", "image", "artifact")


def test_orphans_older_than_the_grace_period_are_removed(
    marid: Marid, world: dict[str, str]
) -> None:
    removed = sweeper(marid, later).sweep()

    assert removed == sorted(world[name] for name in ORPHANS)
    assert keys(marid) == sorted(world[name] for name in NAMED)


def test_young_orphans_are_kept(marid: Marid, world: dict[str, str]) -> None:
    removed = sweeper(marid).sweep()

    assert removed == []
    assert keys(marid) == sorted(world.values())


def test_dry_run_names_the_orphans_and_removes_nothing(marid: Marid, world: dict[str, str]) -> None:
    would = sweeper(marid, later).sweep(dry_run=True)

    assert would == sorted(world[name] for name in ORPHANS)
    assert keys(marid) == sorted(world.values())


def test_periodic_sweeper_removes_only_orphans_found_on_its_previous_pass(
    marid: Marid, world: dict[str, str]
) -> None:
    periodic = sweeper(marid, later)

    first = periodic.periodic_pass()
    marid.blobs.put("objects/888888", iter([b"orphaned since"]))
    second = periodic.periodic_pass()

    assert first == []
    assert second == sorted(world[name] for name in ORPHANS)
    assert keys(marid) == sorted([*(world[name] for name in NAMED), "objects/888888"])
