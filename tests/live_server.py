"""An ASGI app served on a real socket by uvicorn, configured as `marid serve` configures it
(`ops.server.server_config`), in a thread of the test process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from infrastructure.settings import Settings
from ops.server import server_config

START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def live_server(app: Any, settings: Settings) -> Iterator[int]:
    """Serve `app` on 127.0.0.1 until the block ends; yields the port."""
    port = free_port()
    server = uvicorn.Server(server_config(app, settings, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT)


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    """A raw client connection (the caller closes it)."""
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or the timeout)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data
