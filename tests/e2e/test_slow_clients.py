"""Slow clients against the server `marid serve` runs (`ops.server`): request headers and
bodies that do not arrive in time close the connection, others are still served, and
connections past the cap are answered 503."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from infrastructure.settings import Settings
from tests.live_server import connect, live_server, read_until_closed

pytestmark = pytest.mark.e2e

READ_TIMEOUT = 1.0
# Generous on a loaded machine, still far below "open for as long as the client likes".
CLOSED_WITHIN = READ_TIMEOUT + 4.0
GET = b"GET / HTTP/1.1\r\nHost: marid\r\n\r\n"


async def echo_length(scope: Any, receive: Any, send: Any) -> None:
    """Reads the whole body, answers its length."""
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = str(size).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def port() -> Iterator[int]:
    settings = Settings(request_read_timeout=READ_TIMEOUT, max_connections=40)
    with live_server(echo_length, settings) as port:
        yield port


def served(port: int, request: bytes = GET) -> bytes:
    with connect(port) as sock:
        sock.sendall(request)
        return sock.recv(65536)


def closed_after(sock: socket.socket) -> tuple[bytes, float]:
    """What the server sent before closing, and how long until it closed."""
    started = time.monotonic()
    data = read_until_closed(sock)
    return data, time.monotonic() - started


def test_half_sent_headers_are_answered_408_and_closed(port: int) -> None:
    with connect(port) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: mar")

        others = served(port)
        data, waited = closed_after(slow)

    assert others.startswith(b"HTTP/1.1 200 ")
    assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert waited < CLOSED_WITHIN


def test_headers_sent_a_byte_at_a_time_do_not_extend_their_deadline(port: int) -> None:
    request = b"GET / HTTP/1.1\r\nHost: marid\r\nX-Padding: " + b"a" * 200
    with connect(port) as slow:
        started = time.monotonic()
        sent = 0
        with pytest.raises(ConnectionError):  # noqa: PT012 - the server cuts the trickle short
            for byte in request:
                slow.sendall(bytes([byte]))
                sent += 1
                time.sleep(0.05)
            read_until_closed(slow)  # not reached: the headers never end
        elapsed = time.monotonic() - started

    assert sent < len(request)
    assert elapsed < CLOSED_WITHIN


def test_a_connection_that_sends_nothing_is_closed(port: int) -> None:
    with connect(port) as idle:
        data, waited = closed_after(idle)

    assert data.startswith(b"HTTP/1.1 408 ")
    assert waited < CLOSED_WITHIN


def test_half_sent_bodies_are_closed_without_an_answer(port: int) -> None:
    head = b"POST / HTTP/1.1\r\nHost: marid\r\nContent-Length: 100\r\n\r\n"
    with connect(port) as slow:
        slow.sendall(head + b"x" * 40)

        others = served(port)
        data, waited = closed_after(slow)

    assert others.startswith(b"HTTP/1.1 200 ")
    assert data == b""
    assert waited < CLOSED_WITHIN


def test_a_body_that_keeps_arriving_may_take_longer_than_the_timeout(port: int) -> None:
    head = b"POST / HTTP/1.1\r\nHost: marid\r\nContent-Length: 50\r\nConnection: close\r\n\r\n"
    with connect(port) as steady:
        steady.sendall(head)
        for _ in range(5):  # 5 x 0.4 s: twice the timeout in all, never a long pause
            time.sleep(0.4)
            steady.sendall(b"x" * 10)
        answer = read_until_closed(steady)

    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"\r\n\r\n50")


def test_many_slow_clients_are_all_closed_and_others_still_served(port: int) -> None:
    with ExitStack() as stack:
        slow = [stack.enter_context(connect(port)) for _ in range(30)]
        for number, sock in enumerate(slow):
            half = b"GET / HTTP/1.1\r\nHost:" if number % 2 else b"POST / HTTP/1.1\r\n"
            sock.sendall(half)
        started = time.monotonic()

        others = [served(port) for _ in range(3)]
        outcomes = [read_until_closed(sock) for sock in slow]
        waited = time.monotonic() - started

    assert all(answer.startswith(b"HTTP/1.1 200 ") for answer in others)
    assert all(outcome.startswith(b"HTTP/1.1 408 ") for outcome in outcomes)
    assert waited < CLOSED_WITHIN


def test_past_the_connection_cap_new_connections_are_answered_503() -> None:
    settings = Settings(request_read_timeout=30.0, max_connections=3)
    with live_server(echo_length, settings) as port, ExitStack() as stack:
        held = [stack.enter_context(connect(port)) for _ in range(3)]
        held[0].sendall(b"GET / HTTP/1.1\r\nHost: mar")  # the cap counts slow ones too

        refused = served(port)
        for sock in held:
            sock.close()
        accepted = served_once_room_is_made(port)

    assert refused.startswith(b"HTTP/1.1 503 ")
    assert accepted.startswith(b"HTTP/1.1 200 ")


def served_once_room_is_made(port: int) -> bytes:
    """The answer once the server has noticed closed connections (503 until then)."""
    deadline = time.monotonic() + CLOSED_WITHIN
    while (answer := served(port)).startswith(b"HTTP/1.1 503 ") and time.monotonic() < deadline:
        time.sleep(0.05)
    return answer


def test_settings_read_the_timeout_and_the_cap() -> None:
    defaults = Settings.from_env({"MARID_DRIVERS": "os"})
    env = {"MARID_DRIVERS": "os", "MARID_REQUEST_READ_TIMEOUT": "2.5", "MARID_MAX_CONNECTIONS": "9"}

    configured = Settings.from_env(env)

    assert (defaults.request_read_timeout, defaults.max_connections) == (30.0, 1000)
    assert (configured.request_read_timeout, configured.max_connections) == (2.5, 9)
