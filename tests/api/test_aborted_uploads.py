"""A client that closes its connection halfway through a request body: one INFO line with
the request id, no answer, no traceback, and nothing stored."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from tests.conftest import Users
from tests.live_server import connect, live_server

SETTLE_TIMEOUT = 10.0
BOUNDARY = "marid-boundary"


@pytest.fixture
def port(marid: Marid, settings: Settings) -> Iterator[int]:
    with live_server(create_app(settings, marid=marid), settings) as port:
        yield port


def send_half(port: int, head: str, body: bytes, declared: int) -> None:
    """Headers declaring `declared` bytes of body, then `body` (fewer), then close."""
    request = head.replace("\n", "\r\n") + f"Content-Length: {declared}\r\n\r\n"
    with connect(port) as sock:
        sock.sendall(request.encode() + body)


def wait_for_record(caplog: pytest.LogCaptureFixture, request_id: str) -> None:
    """Until a record of the request is logged (the server handles it in its own thread)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not any(request_id in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
        time.sleep(0.05)
    time.sleep(0.2)  # anything else the request logs comes right after it


def blob_files(data_dir: Path) -> list[Path]:
    root = data_dir / "blobs"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


CASES = {
    "raw object": (
        "POST /api/objects?name=half.bin&namespace=proj HTTP/1.1\n"
        "Content-Type: application/octet-stream\n",
        b"x" * 100_000,
        1_000_000,
    ),
    "multipart object": (
        f"POST /api/objects HTTP/1.1\nContent-Type: multipart/form-data; boundary={BOUNDARY}\n",
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="name"\r\n\r\nhalf.bin\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="namespace"\r\n\r\n'
            f'proj\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            'filename="half.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + b"y" * 100_000,
        1_000_000,
    ),
    "raw image": (
        "POST /api/images?name=half.qcow2&namespace=proj HTTP/1.1\n"
        "Content-Type: application/octet-stream\n",
        b"QFI\xfb" + b"\x00" * 100_000,
        1_000_000,
    ),
    "json": (
        "POST /api/namespaces HTTP/1.1\nContent-Type: application/json\n",
        b'{"name": "half',
        1_000,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_client_gone_mid_body_is_one_info_line_and_nothing_stored(
    case: str,
    port: int,
    marid: Marid,
    users: Users,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, alice = users.create("alice")
    url = f"http://127.0.0.1:{port}/api/namespaces"
    made = httpx.post(url, json={"name": "proj"}, headers=alice)  # uploads get under way
    assert made.status_code == 201, made.text
    head, body, declared = CASES[case]
    request_id = f"aborted-{case.replace(' ', '-')}"
    headers = f"Host: marid\nAuthorization: {alice['Authorization']}\nX-Request-Id: {request_id}\n"
    events_before = marid.app.recorder.max_notification_id()

    with caplog.at_level(logging.INFO):
        send_half(port, head + headers, body, declared)
        wait_for_record(caplog, request_id)

    records = [r for r in caplog.records if request_id in r.getMessage()]
    messages = [r.getMessage() for r in records]
    assert len(records) == 1, messages
    assert records[0].levelno == logging.INFO
    assert records[0].exc_info is None
    assert messages[0].startswith("client disconnected before the end of its request body")
    assert not any(r.levelno >= logging.WARNING for r in caplog.records), caplog.text
    assert blob_files(settings.data_dir) == []
    assert marid.app.recorder.max_notification_id() == events_before
