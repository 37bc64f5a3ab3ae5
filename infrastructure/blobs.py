"""The blob store: files under the data directory, written atomically."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from application.ports import BlobInfo, BlobStore
from infrastructure.settings import Settings

KEY_RE = re.compile(r"^[a-z0-9_-]+(/[A-Za-z0-9._-]+)*$")


class BlobTooLargeError(Exception):
    """Raised when streamed content passes the size limit; nothing is kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"blob exceeds {limit} bytes")
        self.limit = limit


class FileBlobStore:
    """Implements BlobStore with one file per key under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not KEY_RE.match(key) or ".." in key:
            raise ValueError(f"bad blob key {key!r}")
        return self.root / key

    def put(self, key: str, chunks: Iterator[bytes], limit: int | None = None) -> BlobInfo:
        """Stream `chunks` to a temporary file, hashing as they pass, then rename into place."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        md5, sha256, size = hashlib.md5(usedforsecurity=False), hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise BlobTooLargeError(limit)
                    md5.update(chunk)
                    sha256.update(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return BlobInfo(size=size, md5=md5.hexdigest(), sha256=sha256.hexdigest())

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        return self._path(key).open("rb")

    def size(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.exists() else None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def listing(self) -> Iterator[tuple[str, datetime]]:
        """Every blob's key and when it was last written (a crashed upload's temporary file
        too: no read model names it, so the sweeper removes it)."""
        for directory, _, files in os.walk(self.root):
            for name in files:
                path = Path(directory, name)
                with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                    yield path.relative_to(self.root).as_posix(), modified


def blob_store(settings: Settings) -> BlobStore:
    """The store `MARID_BLOB_URL` names: S3-compatible for `s3://`, else a directory
    (default `<data dir>/blobs`)."""
    url = settings.blob_url
    if url and url.startswith("s3://"):
        from infrastructure.s3_blobs import S3BlobStore  # boto3 is slow to import

        return S3BlobStore(url)
    return FileBlobStore(Path(url) if url else settings.data_dir / "blobs")
