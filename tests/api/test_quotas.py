"""Per-user storage quotas (MARID_USER_QUOTA) over objects, images and their downloads,
counted for the owner of the namespace things are in; and the image size limit's default."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from application.images import ImageContent
from application.quotas import NO_QUOTA, Quota, Room, size_text
from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from projections.usage import ReadModelStorageUsage
from tests.conftest import TEST_ORIGIN, Users
from tests.helpers import Auth, Client, add_collaborator, create_ns, stored_files
from tests.integration.test_image_downloads import QCOW2, FileServer, download, downloader

QUOTA = 40 * 1024
OBJECT = b"x" * (16 * 1024)
QEMU_DISK = "application/x-qemu-disk"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        user_quota=QUOTA,
        object_max_size=32 * 1024,
        image_max_size=64 * 1024,
        allow_private_urls=True,
    )


@pytest.fixture
def people(users: Users) -> dict[str, tuple[int, Auth]]:
    return {name: users.create(name) for name in ("alice", "bob")}


def upload(client: Client, auth: Auth, name: str, content: bytes = OBJECT, **params: str) -> Any:
    headers = {**auth, "Content-Type": "application/octet-stream"}
    return client.post(
        "/api/objects", params={"name": name, **params}, content=content, headers=headers
    )


def upload_image(client: Client, auth: Auth, name: str, content: bytes) -> Any:
    headers = {**auth, "Content-Type": QEMU_DISK}
    return client.post("/api/images", params={"name": name}, content=content, headers=headers)


def exceeded(used: str) -> dict[str, list[str]]:
    return {"file": [f"Storage quota of 40 KiB exceeded ({used} already used)"]}


def test_an_upload_past_the_quota_is_a_400_naming_the_limit_and_the_usage(
    client: Client, people: dict[str, tuple[int, Auth]], settings: Settings
) -> None:
    _, alice = people["alice"]
    assert upload(client, alice, "one").status_code == 201
    assert upload(client, alice, "two").status_code == 201

    refused = upload(client, alice, "three")

    assert (refused.status_code, refused.json()) == (400, exceeded("32 KiB"))
    assert len(stored_files(settings)) == 2  # the refused file is not kept
    assert upload(client, alice, "small", b"y" * 8 * 1024).status_code == 201  # it fits


def test_objects_and_images_share_one_quota_and_deleting_frees_it(
    client: Client, people: dict[str, tuple[int, Auth]]
) -> None:
    _, alice = people["alice"]
    image = upload_image(client, alice, "disk", QCOW2)  # 16392 bytes
    assert image.status_code == 201, image.text
    assert upload(client, alice, "one").status_code == 201

    refused = upload_image(client, alice, "disk2", QCOW2)

    assert (refused.status_code, refused.json()) == (400, exceeded("32 KiB"))
    assert client.delete(f"/api/images/{image.json()['id']}", headers=alice).status_code == 204
    assert upload_image(client, alice, "disk2", QCOW2).status_code == 201


def test_uploads_into_a_namespace_count_for_its_owner(
    client: Client, marid: Marid, people: dict[str, tuple[int, Auth]]
) -> None:
    alice_id, alice = people["alice"]
    bob_id, bob = people["bob"]
    proj = create_ns(client, alice, "proj")
    add_collaborator(marid, proj["id"], bob_id)
    assert upload(client, bob, "one", namespace="proj@alice").status_code == 201
    assert upload(client, bob, "two", namespace="proj@alice").status_code == 201

    refused = upload(client, bob, "three", namespace="proj@alice")
    own = upload(client, bob, "mine")

    assert (refused.status_code, refused.json()) == (400, exceeded("32 KiB"))
    assert own.status_code == 201
    usage = ReadModelStorageUsage(marid.datastore)
    assert (usage.used(alice_id), usage.used(bob_id)) == (2 * len(OBJECT), len(OBJECT))


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer() as running:
        yield running


def test_a_download_past_the_quota_fails_saying_so_and_keeps_nothing(
    marid: Marid, server: FileServer, settings: Settings
) -> None:
    marid.downloads.stop()
    owner = marid.app.register_user("carol", "carol@example.com", TEST_ORIGIN).value
    content = ImageContent(download_url=server.url("/alpine.qcow2"))
    first = marid.settle(marid.app.create_image(owner, "one", None, content, TEST_ORIGIN))
    second = marid.settle(marid.app.create_image(owner, "two", None, content, TEST_ORIGIN))
    third = marid.settle(marid.app.create_image(owner, "three", None, content, TEST_ORIGIN))

    downloader(marid).run_pending()

    assert download(marid, first)["download_error"] is None
    assert download(marid, second)["download_error"] is None
    assert download(marid, third)["download_error"] == (
        "image does not fit: Storage quota of 40 KiB exceeded (32 KiB already used)"
    )
    assert len(stored_files(settings)) == 2


def test_image_size_limit_defaults_to_10_gib_and_quota_to_20_gib() -> None:
    assert Settings().image_max_size == 10 * 1024**3
    assert Settings().user_quota == 20 * 1024**3
    assert Settings.from_env({}).image_max_size == 10 * 1024**3
    assert Settings.from_env({"MARID_IMAGE_MAX_SIZE": "512m"}).image_max_size == 512 * 1024**2
    assert Settings.from_env({"MARID_USER_QUOTA": "0"}).user_quota is None


def test_quota_texts_and_room() -> None:
    class Used:
        def used(self, owner_id: int) -> int:
            return 19 * 1024**3 + 512 * 1024**2

    quota = Quota(20 * 1024**3, Used())

    assert [size_text(n) for n in (512, 1024, 10 * 1024**3, 1536 * 1024)] == [
        "512 B",
        "1 KiB",
        "10 GiB",
        "1.5 MiB",
    ]
    assert quota.room(7) == Room(20 * 1024**3, 19 * 1024**3 + 512 * 1024**2)
    assert NO_QUOTA.room(7) is None
    with pytest.raises(Exception, match=r"Storage quota of 20 GiB exceeded \(19.5 GiB already"):
        quota.check(7, 513 * 1024**2)
    quota.check(7, 512 * 1024**2)  # exactly what is left fits
