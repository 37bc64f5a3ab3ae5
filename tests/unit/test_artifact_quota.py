"""Artifacts past the build owner's storage quota: the ones that fit are kept, in order,
and each one that does not is said in the job's output and recorded as not collected."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from application.execution import RunJob
from application.ports import BlobInfo
from application.quotas import Room
from domain.builds import artifact_blob_key
from infrastructure.blobs import FileBlobStore
from infrastructure.worker.files import collect_artifacts

KIB = 1024


class Files:
    """The part of a driver that artifacts are read through: files by path."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    @contextlib.contextmanager
    def get_file(self, path: str) -> Iterator[Iterator[bytes]]:
        if path not in self.files:
            raise FileNotFoundError(path)
        content = self.files[path]
        yield iter([content[i : i + KIB] for i in range(0, len(content), KIB)])


def collect(room: Room | None, tmp_path: Path) -> tuple[dict[int, Any], list[str], FileBlobStore]:
    files = Files({"big": b"b" * 6 * KIB, "small": b"s" * 2 * KIB, "medium": b"m" * 3 * KIB})
    job = RunJob(
        id=1,
        stage="build",
        name="make",
        commands=[],
        artifacts=[
            {"id": 10, "source": "big", "name": "big.bin"},
            {"id": 11, "source": "small", "name": "small.bin"},
            {"id": 12, "source": "medium", "name": "medium.bin"},
        ],
    )
    recorded: dict[int, BlobInfo | None] = {}
    output: list[str] = []
    blobs = FileBlobStore(tmp_path / "blobs")

    collect_artifacts(
        cast(Any, files),
        7,
        job,
        blobs,
        recorded.__setitem__,
        output.append,
        lambda line: None,
        room,
    )

    return recorded, output, blobs


def test_artifacts_that_do_not_fit_are_not_kept_and_said_so(tmp_path: Path) -> None:
    recorded, output, blobs = collect(Room(limit=20 * KIB, used=16 * KIB), tmp_path)

    assert recorded[10] is None
    assert recorded[11] is not None
    assert recorded[11].size == 2 * KIB
    assert recorded[12] is None  # 2 KiB left after the small one
    assert output == [
        "Artifact big not kept: it does not fit in the owner's storage quota of 20 KiB "
        "(16 KiB used, 4 KiB left)",
        "Artifact medium not kept: it does not fit in the owner's storage quota of 20 KiB "
        "(18 KiB used, 2 KiB left)",
    ]
    kept = sorted(p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file())
    assert len(kept) == 1
    assert blobs.size(artifact_blob_key(7, 11)) == 2 * KIB


def test_without_a_quota_every_artifact_is_kept(tmp_path: Path) -> None:
    recorded, output, _ = collect(None, tmp_path)

    assert [recorded[i] is not None for i in (10, 11, 12)] == [True, True, True]
    assert output == []
