"""S3BlobStore against a local S3-compatible server: streaming puts (single and multipart),
limits that keep nothing, reads, ranges, deletes, listings; and the store MARID_BLOB_URL
chooses."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from application.core import utcnow
from infrastructure.blobs import BlobTooLargeError, FileBlobStore, blob_store
from infrastructure.s3_blobs import PART_SIZE, S3BlobStore
from infrastructure.settings import Settings, SettingsError
from tests.s3_support import S3

MIB = 1024 * 1024


def pieces(data: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def pattern(size: int) -> bytes:
    """Bytes that differ at every offset modulo 251, so a misplaced range shows."""
    return bytes(i % 251 for i in range(size))


def uploads(s3: S3) -> list[dict[str, Any]]:
    return list(s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []))


@pytest.fixture
def store(s3: S3) -> S3BlobStore:
    return S3BlobStore(s3.url("blobs"), s3.client)


def test_put_streams_and_reports_size_and_digests(store: S3BlobStore, s3: S3) -> None:
    data = b"hello, blobs\n"

    info = store.put("objects/1", pieces(data, 4))

    assert (info.size, info.md5, info.sha256) == (
        len(data),
        hashlib.md5(data).hexdigest(),  # noqa: S324 - the digest the API reports
        hashlib.sha256(data).hexdigest(),
    )
    assert store.size("objects/1") == len(data)
    with store.open("objects/1") as handle:
        assert handle.read() == data
    stored = s3.client.get_object(Bucket=s3.bucket, Key="blobs/objects/1")["Body"].read()
    assert stored == data  # under the URL's prefix


def test_blob_larger_than_a_part_is_stored_in_parts(store: S3BlobStore, s3: S3) -> None:
    data = pattern(2 * PART_SIZE + 12345)

    info = store.put("images/big", pieces(data, MIB))

    assert info.size == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    head = s3.client.head_object(Bucket=s3.bucket, Key="blobs/images/big")
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    with store.open("images/big") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == info.sha256
    assert uploads(s3) == []


def test_breaching_the_limit_keeps_nothing_and_aborts_the_upload(
    store: S3BlobStore, s3: S3
) -> None:
    data = pattern(PART_SIZE + MIB)

    with pytest.raises(BlobTooLargeError):
        store.put("images/too-big", pieces(data, MIB), limit=PART_SIZE + MIB - 1)

    assert store.size("images/too-big") is None
    assert uploads(s3) == []


def test_failing_source_keeps_nothing_and_aborts_the_upload(store: S3BlobStore, s3: S3) -> None:
    def broken() -> Iterator[bytes]:
        yield pattern(PART_SIZE + 1)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.put("objects/2", broken())

    assert store.size("objects/2") is None
    assert uploads(s3) == []


def test_ranged_reads_fetch_from_the_sought_offset(store: S3BlobStore) -> None:
    data = pattern(3 * MIB)
    store.put("artifacts/1/2", pieces(data))

    with store.open("artifacts/1/2") as handle:
        assert handle.seek(0, io.SEEK_END) == len(data)
        handle.seek(MIB + 7)
        middle = handle.read(1000)
        handle.seek(10)
        start = handle.read(5)
        handle.seek(len(data) - 3)
        tail = handle.read(100)

    assert middle == data[MIB + 7 : MIB + 1007]
    assert start == data[10:15]
    assert tail == data[-3:]


def test_empty_blob_is_stored_and_read(store: S3BlobStore) -> None:
    info = store.put("objects/3", iter([]))

    assert info.size == 0
    with store.open("objects/3") as handle:
        assert handle.seek(0, io.SEEK_END) == 0
        assert handle.read() == b""


def test_missing_blob_is_file_not_found_and_size_none(store: S3BlobStore) -> None:
    with pytest.raises(FileNotFoundError):
        store.open("objects/404")
    assert store.size("objects/404") is None


def test_blob_deleted_before_its_bytes_are_read_is_file_not_found(store: S3BlobStore) -> None:
    store.put("objects/4", iter([b"soon gone"]))

    with store.open("objects/4") as handle:
        store.delete("objects/4")
        with pytest.raises(FileNotFoundError):
            handle.read()


def test_delete_removes_and_tolerates_missing(store: S3BlobStore) -> None:
    store.put("objects/5", iter([b"x"]))

    store.delete("objects/5")
    store.delete("objects/5")

    assert store.size("objects/5") is None


def test_bad_keys_are_refused(store: S3BlobStore) -> None:
    for key in ("../etc/passwd", "objects/../x", "/abs", ""):
        with pytest.raises(ValueError, match="bad blob key"):
            store.put(key, iter([b"x"]))


def test_listing_names_every_key_under_the_prefix_with_its_time(store: S3BlobStore, s3: S3) -> None:
    store.put("objects/6", iter([b"a"]))
    store.put("artifacts/7/8", iter([b"b"]))
    s3.client.put_object(Bucket=s3.bucket, Key="elsewhere/objects/9", Body=b"c")
    before = utcnow() - timedelta(minutes=5)

    listed = dict(store.listing())

    assert sorted(listed) == ["artifacts/7/8", "objects/6"]
    assert all(modified > before for modified in listed.values())


def test_stale_multipart_uploads_are_aborted(store: S3BlobStore, s3: S3) -> None:
    # moto dates every upload 2010-11-10, so a young one cannot be shown to be kept here.
    s3.client.create_multipart_upload(Bucket=s3.bucket, Key="blobs/images/crashed")
    s3.client.create_multipart_upload(Bucket=s3.bucket, Key="other/prefix")

    assert store.abort_stale_uploads(utcnow() + timedelta(minutes=1)) == 1

    assert [u["Key"] for u in uploads(s3)] == ["other/prefix"]


def test_file_store_listing_names_keys_and_crashed_temporary_files(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    store.put("objects/1", iter([b"a"]))
    (tmp_path / "objects" / ".incoming-x").write_bytes(b"half")
    os.utime(tmp_path / "objects" / "1", (1_000_000, 1_000_000))

    listed = dict(store.listing())

    assert sorted(listed) == ["objects/.incoming-x", "objects/1"]
    assert listed["objects/1"].timestamp() == 1_000_000


def test_blob_url_chooses_the_store(tmp_path: Path, s3: S3) -> None:
    default = blob_store(Settings(data_dir=tmp_path))
    directory = blob_store(Settings(data_dir=tmp_path, blob_url=str(tmp_path / "shared")))
    remote = blob_store(Settings(data_dir=tmp_path, blob_url=s3.url("p")))

    assert isinstance(default, FileBlobStore)
    assert default.root == tmp_path / "blobs"
    assert isinstance(directory, FileBlobStore)
    assert directory.root == tmp_path / "shared"
    assert isinstance(remote, S3BlobStore)
    assert (remote.bucket, remote.prefix) == (s3.bucket, "p/")
    remote.put("objects/1", iter([b"through the environment"]))  # AWS_ENDPOINT_URL
    assert s3.client.head_object(Bucket=s3.bucket, Key="p/objects/1")["ContentLength"] == 23


@pytest.mark.parametrize("url", ["http://host/x", "s3://", "s3://UPPER/x", "s3://a"])
def test_bad_blob_url_is_a_settings_error(url: str) -> None:
    with pytest.raises(SettingsError, match="MARID_BLOB_URL must be a directory or s3://"):
        Settings.from_env({"MARID_BLOB_URL": url, "MARID_DRIVERS": "os"})
