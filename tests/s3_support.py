"""An S3-compatible server for the test session: moto's standalone server on a free
loopback port, started once per session (per xdist worker); a bucket of its own per test.

`s3` sets the standard AWS variables (endpoint, fake credentials, region) for the test, so
that a marid configured with `MARID_BLOB_URL=s3://...` reaches the server as in production.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class S3:
    endpoint: str
    bucket: str
    client: Any

    def url(self, prefix: str = "marid") -> str:
        return f"s3://{self.bucket}/{prefix}"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer  # slow to import: only where used

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3:
    """A fresh bucket on the session's server, with the AWS environment pointing at it."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "marid-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "marid-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    from infrastructure.s3_blobs import s3_client  # boto3 is slow to import

    client = s3_client(s3_endpoint)
    bucket = f"marid-{secrets.token_hex(6)}"
    client.create_bucket(Bucket=bucket)
    return S3(s3_endpoint, bucket, client)
