"""Objects and images over HTTP with MARID_BLOB_URL on an S3-compatible store: uploads land
in the bucket, downloads stream back whole and by Range, deletes remove them."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from infrastructure.bootstrap import Marid
from infrastructure.s3_blobs import PART_SIZE, S3BlobStore
from infrastructure.settings import Settings
from tests.helpers import Auth, Client
from tests.integration.test_image_downloads import QCOW2
from tests.s3_support import S3

BINARY = "application/octet-stream"
QEMU_DISK = "application/x-qemu-disk"
CONTENT = bytes(i % 251 for i in range(200_000))
IMAGE = (QCOW2 * (PART_SIZE // len(QCOW2) + 2))[: PART_SIZE + 4321]  # two parts


@pytest.fixture
def settings(settings: Settings, s3: S3) -> Settings:
    return dataclasses.replace(settings, blob_url=s3.url("cluster"), image_max_size=None)


def stored(s3: S3) -> list[str]:
    listed = s3.client.list_objects_v2(Bucket=s3.bucket).get("Contents", [])
    return sorted(item["Key"] for item in listed)


def upload_object(client: Client, auth: Auth) -> dict[str, Any]:
    headers = {**auth, "Content-Type": BINARY}
    response = client.post(
        "/api/objects", params={"name": "data"}, content=CONTENT, headers=headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def upload_image(client: Client, auth: Auth) -> dict[str, Any]:
    headers = {**auth, "Content-Type": QEMU_DISK}
    response = client.post("/api/images", params={"name": "disk"}, content=IMAGE, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_marid_uses_the_s3_store(marid: Marid, s3: S3) -> None:
    assert isinstance(marid.blobs, S3BlobStore)
    assert marid.blobs.bucket == s3.bucket


def test_object_is_stored_in_the_bucket_and_downloaded_whole_and_by_range(
    client: Client, alice: Auth, s3: S3
) -> None:
    obj = upload_object(client, alice)
    url, accept = f"/api/objects/{obj['id']}", {**alice, "Accept": BINARY}

    whole = client.get(url, headers=accept)
    ranged = client.get(url, headers={**accept, "Range": "bytes=100000-100099"})
    suffix = client.get(url, headers={**accept, "Range": "bytes=-10"})
    beyond = client.get(url, headers={**accept, "Range": f"bytes={len(CONTENT)}-"})

    assert stored(s3) == [f"cluster/objects/{obj['id']}"]
    assert whole.status_code == 200
    assert whole.content == CONTENT
    assert ranged.status_code == 206
    assert ranged.content == CONTENT[100000:100100]
    assert ranged.headers["content-range"] == f"bytes 100000-100099/{len(CONTENT)}"
    assert suffix.content == CONTENT[-10:]
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(CONTENT)}"


def test_image_of_several_parts_is_downloaded_whole_and_by_range(
    client: Client, alice: Auth, s3: S3
) -> None:
    image = upload_image(client, alice)
    url, accept = f"/api/images/{image['id']}", {**alice, "Accept": QEMU_DISK}
    start = PART_SIZE - 50  # across the boundary of the two parts

    whole = client.get(url, headers=accept)
    ranged = client.get(url, headers={**accept, "Range": f"bytes={start}-{start + 99}"})

    assert [key.split("-")[0] for key in stored(s3)] == ["cluster/images/upload"]
    assert whole.status_code == 200
    assert whole.headers["content-length"] == str(len(IMAGE))
    assert whole.content == IMAGE
    assert ranged.status_code == 206
    assert ranged.content == IMAGE[start : start + 100]


def test_deleted_object_leaves_the_bucket_and_answers_404(
    client: Client, alice: Auth, s3: S3
) -> None:
    obj = upload_object(client, alice)

    deleted = client.delete(f"/api/objects/{obj['id']}", headers=alice)

    assert deleted.status_code == 204
    assert stored(s3) == []


def test_object_whose_blob_vanished_answers_404(
    client: Client, alice: Auth, s3: S3, marid: Marid
) -> None:
    obj = upload_object(client, alice)
    marid.blobs.delete(f"objects/{obj['id']}")

    response = client.get(f"/api/objects/{obj['id']}", headers={**alice, "Accept": BINARY})

    assert response.status_code == 404
