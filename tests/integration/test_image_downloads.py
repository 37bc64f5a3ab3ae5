"""The image downloader against a real HTTP server on 127.0.0.1 and a real PostgreSQL.

The background downloaders that `Marid.start()` runs are stopped here, so each test drives
its own `Downloads` pass (`run_pending`) and the outcome is deterministic.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from application.images import ImageContent
from domain.images import Image
from domain.origin import Origin
from infrastructure.bootstrap import Marid
from infrastructure.downloads import Downloads
from infrastructure.public_http import PublicOnlyTransport
from infrastructure.settings import Settings

ORIGIN = Origin.system("test")
QCOW2 = b"QFI\xfb\x00\x00\x00\x03" + bytes(range(256)) * 64


class FileServer:
    """A small HTTP server with the answers a download can meet; counts requests per path."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.hosts: list[str] = []
        self.release = threading.Event()
        self.redirect_to: str = ""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the name http.server dispatches to
                server.hits[self.path] += 1
                server.hosts.append(self.headers.get("Host", ""))
                server.answer(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        if path == "/alpine.qcow2":
            self.send(handler, 200, QCOW2)
        elif path == "/unsized.qcow2":  # no Content-Length: the body ends when the server closes
            handler.send_response(200)
            handler.end_headers()
            handler.wfile.write(QCOW2)
        elif path == "/not-qcow2":
            self.send(handler, 200, b"<html>hello</html>")
        elif path == "/tiny":
            self.send(handler, 200, b"QF")
        elif path == "/private.qcow2":
            expected = "Basic " + base64.b64encode(b"bob:hunter2").decode()
            ok = handler.headers.get("Authorization") == expected
            self.send(handler, 200 if ok else 401, QCOW2 if ok else b"")
        elif path == "/redirect":
            self.redirect(handler, "/alpine.qcow2")
        elif path == "/loop":
            self.redirect(handler, "/loop")
        elif path == "/elsewhere":
            self.redirect(handler, self.redirect_to)
        elif path == "/dead":
            self.release.wait(10)  # accepts, never answers
        elif path == "/slow":
            handler.send_response(200)
            handler.send_header("Content-Length", str(10**6))
            handler.end_headers()
            handler.wfile.write(QCOW2[:8])
            while not self.release.wait(0.05):  # a byte now and then, never finishing
                handler.wfile.write(b"\x00")
                handler.wfile.flush()
        else:
            self.send(handler, 404, b"not found")

    @staticmethod
    def send(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    @staticmethod
    def redirect(handler: BaseHTTPRequestHandler, location: str) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer() as running:
        yield running


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, allow_private_urls=True)


@pytest.fixture
def idle(marid: Marid) -> Marid:
    """The wired marid with its own background downloaders stopped."""
    marid.downloads.stop()
    return marid


def downloader(marid: Marid, **options: Any) -> Downloads:
    settings = options.pop("settings", marid.settings)
    return Downloads(marid.app, marid.blobs, marid.images, marid.read_models, settings, **options)


def create(marid: Marid, url: str, name: str = "alpine") -> int:
    owner = marid.app.register_user(f"u{name.lower()}", f"{name}@example.com", ORIGIN).value
    content = ImageContent(download_url=url)
    return marid.settle(marid.app.create_image(owner, name, None, content, ORIGIN))


def download(marid: Marid, image_id: int) -> dict[str, Any]:
    row = marid.images.get(image_id)
    assert row is not None
    return row.fields


def blob_files(marid: Marid) -> list[Path]:
    root = marid.settings.data_dir / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file())


def error_after_one_pass(marid: Marid, url: str, **options: Any) -> str | None:
    image_id = create(marid, url)

    downloader(marid, **options).run_pending()

    fields = download(marid, image_id)
    assert fields["download_finished_at"] is not None
    return fields["download_error"]


# --- outcomes ----------------------------------------------------------------------------


def test_qcow2_file_is_fetched_into_the_blob_store(idle: Marid, server: FileServer) -> None:
    image_id = create(idle, server.url("/alpine.qcow2"))

    settled = downloader(idle).run_pending()

    fields = download(idle, image_id)
    assert settled == 1
    assert fields["download_error"] is None
    assert fields["download_started_at"] <= fields["download_finished_at"]
    assert fields["size"] == len(QCOW2)
    with idle.blobs.open(fields["blob_key"]) as f:
        assert f.read() == QCOW2


def test_file_that_is_not_qcow2_is_an_error_and_nothing_is_kept(
    idle: Marid, server: FileServer
) -> None:
    error = error_after_one_pass(idle, server.url("/not-qcow2"))

    assert error == "not a valid qcow2 file"
    assert blob_files(idle) == []


def test_file_shorter_than_the_magic_is_not_qcow2(idle: Marid, server: FileServer) -> None:
    assert error_after_one_pass(idle, server.url("/tiny")) == "not a valid qcow2 file"


def test_missing_file_is_an_error(idle: Marid, server: FileServer) -> None:
    error = error_after_one_pass(idle, server.url("/missing"))

    assert error == "unexpected status 404 Not Found"


def test_endpoint_that_never_answers_times_out(idle: Marid, server: FileServer) -> None:
    error = error_after_one_pass(idle, server.url("/dead"), stall_timeout=0.3)

    assert error == "download timed out"


def test_endpoint_that_never_finishes_times_out(idle: Marid, server: FileServer) -> None:
    error = error_after_one_pass(idle, server.url("/slow"), total_timeout=0.3)

    assert error == "download timed out"
    assert blob_files(idle) == []


@pytest.mark.parametrize("path", ["/alpine.qcow2", "/unsized.qcow2"])
def test_image_over_the_size_limit_is_an_error(idle: Marid, server: FileServer, path: str) -> None:
    limited = dataclasses.replace(idle.settings, image_max_size=1024)

    error = error_after_one_pass(idle, server.url(path), settings=limited)

    assert error == "image too large, cannot exceed 1 KiB"
    assert blob_files(idle) == []


def test_image_at_the_size_limit_is_kept(idle: Marid, server: FileServer) -> None:
    limited = dataclasses.replace(idle.settings, image_max_size=len(QCOW2))

    error = error_after_one_pass(idle, server.url("/unsized.qcow2"), settings=limited)

    assert error is None
    assert [p.stat().st_size for p in blob_files(idle)] == [len(QCOW2)]


def test_redirects_are_followed(idle: Marid, server: FileServer) -> None:
    assert error_after_one_pass(idle, server.url("/redirect")) is None


def test_redirects_are_followed_only_a_few_times(idle: Marid, server: FileServer) -> None:
    error = error_after_one_pass(idle, server.url("/loop"), max_redirects=3)

    assert error == "too many redirects"
    assert server.hits["/loop"] == 4


def test_credentials_in_the_url_are_sent_but_never_shown_or_logged(
    idle: Marid, server: FileServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.url("/private.qcow2", host="bob:hunter2@127.0.0.1")
    caplog.set_level(logging.DEBUG)

    error = error_after_one_pass(idle, url)

    assert error is None
    assert "hunter2" not in caplog.text
    assert download(idle, 1)["download_source"] == server.url(
        "/private.qcow2", host="bob:xxxxx@127.0.0.1"
    )


def test_progress_is_recorded_as_it_streams(idle: Marid, server: FileServer) -> None:
    image_id = create(idle, server.url("/alpine.qcow2"))

    downloader(idle, heartbeat=0.0).run_pending()

    events = idle.app.repository.event_store.get(Image.create_id(image_id))
    received = [e.received for e in events if isinstance(e, Image.DownloadProgressed)]
    assert received
    assert received == sorted(received)
    assert received[-1] == len(QCOW2)


# --- address safety ------------------------------------------------------------------------


def test_loopback_address_is_refused_unless_private_urls_are_allowed(
    idle: Marid, server: FileServer
) -> None:
    strict = dataclasses.replace(idle.settings, allow_private_urls=False)

    error = error_after_one_pass(idle, server.url("/alpine.qcow2"), settings=strict)

    assert error == "refused: 127.0.0.1 resolves to a loopback address"
    assert server.hits == Counter()


def test_redirect_target_is_checked_again(idle: Marid, server: FileServer) -> None:
    server.redirect_to = server.url("/alpine.qcow2", host="metadata.test")
    names = {"127.0.0.1": ["127.0.0.1"], "metadata.test": ["127.0.0.1", "169.254.169.254"]}

    def transport() -> PublicOnlyTransport:
        return PublicOnlyTransport(
            allow_private=False,
            resolver=lambda host, port: names[host],
            refuse=lambda address: "link-local" if address.is_link_local else None,
        )

    error = error_after_one_pass(idle, server.url("/elsewhere"), transport=transport)

    assert error == "refused: metadata.test resolves to a link-local address"
    assert server.hits == Counter({"/elsewhere": 1})


def test_connection_goes_to_the_checked_address_with_the_original_host(
    idle: Marid, server: FileServer
) -> None:
    url = server.url("/alpine.qcow2", host="mirror.test")

    def transport() -> PublicOnlyTransport:
        return PublicOnlyTransport(allow_private=True, resolver=lambda host, port: ["127.0.0.1"])

    error = error_after_one_pass(idle, url, transport=transport)

    assert error is None
    assert server.hosts == [f"mirror.test:{server.port}"]


# --- claims across processes -------------------------------------------------------------


def test_two_downloaders_fetch_an_image_once(idle: Marid, server: FileServer) -> None:
    image_id = create(idle, server.url("/alpine.qcow2"))
    first, second = downloader(idle), downloader(idle)
    settled: list[int] = []
    threads = [
        threading.Thread(target=lambda d=d: settled.append(d.run_pending()))
        for d in (first, second)
    ]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(settled) == [0, 1]
    assert server.hits["/alpine.qcow2"] == 1
    assert download(idle, image_id)["download_error"] is None


def test_download_claimed_by_a_live_downloader_is_left_alone(
    idle: Marid, server: FileServer
) -> None:
    image_id = create(idle, server.url("/alpine.qcow2"))
    idle.app.claim_download(image_id, "other-process", timedelta(minutes=2))

    settled = downloader(idle).run_pending()

    assert settled == 0
    assert server.hits == Counter()


def test_stale_claim_is_taken_over_when_a_downloader_starts(
    idle: Marid, server: FileServer
) -> None:
    image_id = create(idle, server.url("/alpine.qcow2"))
    idle.app.claim_download(image_id, "dead-process", timedelta(minutes=2))
    restarted = downloader(idle, lease=timedelta(0))

    restarted.start()
    settled = restarted.wait_settled(image_id, timeout=10)
    restarted.stop()

    assert settled
    assert download(idle, image_id)["download_finished_at"] is not None
    assert download(idle, image_id)["download_error"] is None


def test_image_deleted_while_downloading_keeps_no_file(idle: Marid, server: FileServer) -> None:
    image_id = create(idle, server.url("/alpine.qcow2"))
    owner = idle.app.image(image_id).owner_id
    worker = downloader(idle)
    url = idle.app.claim_download(image_id, worker.claimant, worker.lease).value
    idle.settle(idle.app.delete_image(image_id, owner, ORIGIN))

    kept = worker.fetch(image_id, url)

    assert not kept
    assert blob_files(idle) == []
