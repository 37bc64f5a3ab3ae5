"""Secrets at rest and the file blob store."""

from __future__ import annotations

from pathlib import Path

import pytest

from infrastructure.blobs import BlobTooLargeError, FileBlobStore
from infrastructure.cipher import AesGcmBox, SecretError


def test_sealed_secret_opens_with_the_same_key_and_hides_the_plaintext() -> None:
    box = AesGcmBox(b"k" * 32)

    sealed = box.seal("hunter2-secret")

    assert "hunter2" not in sealed
    assert box.open(sealed) == "hunter2-secret"


def test_sealing_twice_gives_different_ciphertexts() -> None:
    box = AesGcmBox(b"k" * 32)

    assert box.seal("same") != box.seal("same")


def test_secret_sealed_with_another_key_is_refused() -> None:
    sealed = AesGcmBox(b"a" * 32).seal("value")

    with pytest.raises(SecretError):
        AesGcmBox(b"b" * 32).open(sealed)


@pytest.mark.parametrize("garbage", ["", "v1:", "v2:abcd", "v1:not base64!", "plain text"])
def test_malformed_sealed_secret_is_refused(garbage: str) -> None:
    with pytest.raises(SecretError):
        AesGcmBox(b"k" * 32).open(garbage)


def test_blob_is_stored_with_size_and_digests(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)

    info = store.put("objects/1", iter([b"hello ", b"world"]))

    assert (info.size, info.md5) == (11, "5eb63bbbe01eeed093cb22bb8f5acdc3")
    assert info.sha256 == "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    with store.open("objects/1") as f:
        assert f.read() == b"hello world"
    assert store.size("objects/1") == 11


def test_blob_over_the_limit_leaves_nothing_behind(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    store.put("objects/1", iter([b"old"]))

    with pytest.raises(BlobTooLargeError):
        store.put("objects/1", iter([b"12345", b"6"]), limit=5)

    with store.open("objects/1") as f:
        assert f.read() == b"old"
    assert [p.name for p in (tmp_path / "objects").iterdir()] == ["1"]


def test_deleting_a_blob_removes_it_and_is_idempotent(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    store.put("images/2", iter([b"x"]))

    store.delete("images/2")
    store.delete("images/2")

    assert store.size("images/2") is None


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "objects/../../x", "UPPER/1", ""])
def test_blob_keys_cannot_escape_the_store(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="bad blob key"):
        FileBlobStore(tmp_path).put(key, iter([b"x"]))
