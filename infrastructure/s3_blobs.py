"""The blob store on S3-compatible object storage, which every node of a cluster reaches.

Uploads stream: a blob of one part is one PUT; a larger one is a multipart upload of
parts of at least `PART_SIZE`, aborted on any failure or when it passes its limit, so that
nothing is kept. Downloads stream too: `open` reads the size with a HEAD and fetches the
bytes with a ranged GET from wherever the reader was sought to.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, suppress
from datetime import datetime
from typing import Any, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from application.ports import BlobInfo
from infrastructure.blobs import KEY_RE, BlobTooLargeError

PART_SIZE = 8 * 1024 * 1024  # S3 wants at least 5 MiB in every part but the last
PARTS_PER_SIZE = 1000  # parts grow by PART_SIZE every 1000 parts: 10,000 parts hold 430 GiB
READ_BUFFER = 64 * 1024
URL = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?$")
MISSING = {"404", "NoSuchKey", "NotFound", "412", "PreconditionFailed"}  # 412: replaced


def s3_client(endpoint_url: str | None = None) -> Any:
    """A thread-safe S3 client; the endpoint, region and credentials come from the
    standard AWS environment variables (or `endpoint_url`).

    Checksums only where the API requires them: stores other than AWS (older MinIO, Ceph
    RGW, Garage) do not all accept the CRC trailers botocore adds by default. A custom
    endpoint is addressed by path (http://host/bucket), as such stores expect."""
    session = boto3.session.Session()
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    config = Config(
        max_pool_connections=50,
        retries={"mode": "standard"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path" if endpoint else "auto"},
    )
    return session.client("s3", endpoint_url=endpoint, config=config)


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in MISSING


class S3BlobStore:
    """Implements BlobStore with one object per key under `prefix` in `bucket`."""

    def __init__(self, url: str, client: Any | None = None) -> None:
        match = URL.match(url)
        if match is None:
            raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
        self.bucket = match[1]
        prefix = (match[2] or "").strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.client = client or s3_client()

    def _name(self, key: str) -> str:
        if not KEY_RE.match(key) or ".." in key:
            raise ValueError(f"bad blob key {key!r}")
        return self.prefix + key

    def put(self, key: str, chunks: Iterator[bytes], limit: int | None = None) -> BlobInfo:
        """Stream `chunks` into the object, hashing as they pass; at most one part is held
        in memory. The object appears whole or not at all."""
        name = self._name(key)
        upload = _Upload(self.client, self.bucket, name)
        md5, sha256, size = hashlib.md5(usedforsecurity=False), hashlib.sha256(), 0
        buffer = bytearray()
        try:
            for chunk in chunks:
                size += len(chunk)
                if limit is not None and size > limit:
                    raise BlobTooLargeError(limit)
                md5.update(chunk)
                sha256.update(chunk)
                buffer += chunk
                if len(buffer) >= upload.part_size:
                    upload.send(bytes(buffer))
                    buffer.clear()
            upload.finish(bytes(buffer))
        except (ClientError, BotoCoreError) as exc:
            upload.abort()
            raise OSError(f"cannot store blob {key}: {exc}") from None
        except BaseException:
            upload.abort()
            raise
        return BlobInfo(size=size, md5=md5.hexdigest(), sha256=sha256.hexdigest())

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A seekable reader (FileNotFoundError if the blob is gone); bytes are fetched
        with a ranged GET from the position it was sought to."""
        name = self._name(key)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(key) from None
            raise OSError(f"cannot read blob {key}: {exc}") from None
        except BotoCoreError as exc:
            raise OSError(f"cannot read blob {key}: {exc}") from None
        raw = _RangedReader(self.client, self.bucket, name, key, head)
        return cast(BinaryIO, io.BufferedReader(raw, READ_BUFFER))

    def size(self, key: str) -> int | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return int(head["ContentLength"])

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def listing(self) -> Iterator[tuple[str, datetime]]:
        """Every blob's key and when it was last written."""
        pages = self.client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", ()):
                yield item["Key"][len(self.prefix) :], item["LastModified"]

    def abort_stale_uploads(self, before: datetime) -> int:
        """Abort multipart uploads begun before `before` (a crashed writer's); their count."""
        pages = self.client.get_paginator("list_multipart_uploads")
        aborted = 0
        for page in pages.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Uploads", ()):
                if item["Initiated"] < before:
                    with suppress(ClientError):  # finished or aborted meanwhile
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=item["Key"], UploadId=item["UploadId"]
                        )
                        aborted += 1
        return aborted


class _Upload:
    """One blob's upload: a single PUT, or a multipart upload once a full part is sent."""

    def __init__(self, client: Any, bucket: str, name: str) -> None:
        self.client, self.bucket, self.name = client, bucket, name
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    @property
    def part_size(self) -> int:
        return PART_SIZE * (1 + len(self.parts) // PARTS_PER_SIZE)

    def _where(self) -> dict[str, Any]:
        return {"Bucket": self.bucket, "Key": self.name}

    def send(self, part: bytes) -> None:
        if self.upload_id is None:
            created = self.client.create_multipart_upload(**self._where())
            self.upload_id = created["UploadId"]
        number = len(self.parts) + 1
        sent = self.client.upload_part(
            **self._where(),
            UploadId=self.upload_id,
            PartNumber=number,
            Body=part,
            ContentMD5=_md5(part),
        )
        self.parts.append({"PartNumber": number, "ETag": sent["ETag"]})

    def finish(self, rest: bytes) -> None:
        if self.upload_id is None:
            self.client.put_object(**self._where(), Body=rest, ContentMD5=_md5(rest))
            return
        if rest:
            self.send(rest)
        self.client.complete_multipart_upload(
            **self._where(), UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )
        self.upload_id = None

    def abort(self) -> None:
        if self.upload_id is not None:
            with suppress(ClientError, BotoCoreError):  # the sweeper aborts what is left
                self.client.abort_multipart_upload(**self._where(), UploadId=self.upload_id)
            self.upload_id = None


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


class _RangedReader(io.RawIOBase):
    """A blob's bytes from one streaming GET per seek, of the version the HEAD saw."""

    def __init__(self, client: Any, bucket: str, name: str, key: str, head: Any) -> None:
        self.client, self.bucket, self.name, self.key = client, bucket, name, key
        self.length = int(head["ContentLength"])
        self.etag = head.get("ETag")
        self.position = 0
        self.body: Any = None  # the open GET's StreamingBody

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.length}[whence]
        position = base + offset
        if position < 0:
            raise OSError(f"negative seek position {position}")
        if position != self.position:
            self._drop()
            self.position = position
        return position

    def readinto(self, buffer: Any) -> int:
        if self.position >= self.length or len(buffer) == 0:
            return 0
        if self.body is None:
            self.body = self._get()
        try:
            data = self.body.read(len(buffer))
        except (BotoCoreError, ClientError) as exc:
            raise OSError(f"cannot read blob {self.key}: {exc}") from None
        if not data:
            raise OSError(f"blob {self.key} ended at {self.position} of {self.length} bytes")
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)

    def _get(self) -> Any:
        ask: dict[str, Any] = {"Range": f"bytes={self.position}-{self.length - 1}"}
        if self.etag:
            ask["IfMatch"] = self.etag
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.name, **ask)["Body"]
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(self.key) from None
            raise OSError(f"cannot read blob {self.key}: {exc}") from None
        except BotoCoreError as exc:
            raise OSError(f"cannot read blob {self.key}: {exc}") from None

    def _drop(self) -> None:
        if self.body is not None:
            self.body.close()  # an unread rest closes the connection rather than reading on
            self.body = None

    def close(self) -> None:
        self._drop()
        super().close()
