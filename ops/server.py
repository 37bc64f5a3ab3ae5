"""The HTTP server of `marid serve`: uvicorn, guarded against hostile clients.

- Proxy headers (`X-Forwarded-For`, `X-Forwarded-Proto`) are believed only from
  `MARID_TRUSTED_PROXIES`; uvicorn's default trusts 127.0.0.1, where any local process (a
  build on the os driver) could claim to be any client and escape the rate limit.
- A request's headers must arrive within `MARID_REQUEST_READ_TIMEOUT` seconds of its first
  byte (of the connection, for a new one), and its body may pause for at most as long
  between two reads (as nginx's `client_header_timeout` and `client_body_timeout`):
  otherwise the connection is closed (with a 408 when no response has begun).
- At most `MARID_MAX_CONNECTIONS` connections are served at once; a request on one more
  is answered 503.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from infrastructure.logs import uvicorn_log_config
from infrastructure.settings import Settings, SettingsError

log = logging.getLogger("marid.server")


def run_server(app: Any, settings: Settings, host: str, port: int) -> None:
    uvicorn.Server(server_config(app, settings, host, port)).run()


def server_config(app: Any, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """uvicorn's configuration for `app` as `marid serve` runs it."""
    trusted = trusted_proxies(settings)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(settings.request_read_timeout),
        proxy_headers=bool(trusted),
        forwarded_allow_ips=list(trusted) or [],
        # uvicorn counts the connection asking among those open: one more than the cap.
        limit_concurrency=settings.max_connections + 1,
        log_level=settings.log_level.lower(),
        log_config=uvicorn_log_config(settings.log_level),  # marid's format, not uvicorn's
        # Open output streams (server-sent events) would otherwise hold shutdown forever.
        timeout_graceful_shutdown=5,
    )


def trusted_proxies(settings: Settings) -> tuple[str, ...]:
    """The trusted proxies, each checked to be an address or a network (CIDR)."""
    for proxy in settings.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise SettingsError(
                f"MARID_TRUSTED_PROXIES must list addresses or networks (10.0.0.0/8), not {proxy!r}"
            ) from None
    return settings.trusted_proxies


def guarded_protocol(read_timeout: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with request read timeouts of `read_timeout` seconds."""
    return type("GuardedH11Protocol", (ReadTimeoutProtocol,), {"read_timeout": read_timeout})


class ReadTimeoutProtocol(H11Protocol):
    """Closes connections whose request headers or body do not arrive in time.

    uvicorn times out only idle keep-alive connections: one that sends half its headers,
    or half its body, stays open for as long as the client likes.
    """

    read_timeout = 30.0
    read_timer: asyncio.TimerHandle | None = None
    timing_headers = False  # the timer is the headers' deadline (not the body's pause)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._time_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._time_read()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.DONE:
            self._cancel_read_timer()  # keep-alive's own timer runs until the next request

    def _time_read(self) -> None:
        state = self.conn.their_state
        if self.transport.is_closing() or state not in (h11.IDLE, h11.SEND_BODY):
            self._cancel_read_timer()  # the request is read (or the connection is done)
        elif state is h11.IDLE:
            if not (self.read_timer and self.timing_headers):
                self._time_headers()  # from the first byte: more bytes do not extend it
        else:
            self._arm(headers=False)  # a body may take long, but not pause long

    def _time_headers(self) -> None:
        self._arm(headers=True)

    def _arm(self, *, headers: bool) -> None:
        self._cancel_read_timer()
        self.timing_headers = headers
        self.read_timer = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _cancel_read_timer(self) -> None:
        if self.read_timer is not None:
            self.read_timer.cancel()
            self.read_timer = None

    def _read_timed_out(self) -> None:
        self.read_timer = None
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.SEND_BODY and self.flow.read_paused:
            self._arm(headers=False)  # the app is not reading yet: the pause is ours
            return
        if state not in (h11.IDLE, h11.SEND_BODY):
            return
        what = "headers" if state is h11.IDLE else "body"
        if state is h11.IDLE and self.conn.our_state is h11.IDLE:
            self._send_408()  # a response to a body's request is the app's to give
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.info(
            "closed the connection of %s: its request %s did not arrive within %g s",
            client,
            what,
            self.read_timeout,
        )
        self.transport.close()

    def _send_408(self) -> None:
        headers = [(b"content-length", b"0"), (b"connection", b"close")]
        try:
            self.transport.write(
                self.conn.send(
                    h11.Response(status_code=408, headers=headers, reason=b"Request Timeout")
                )
            )
            self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError:
            pass  # h11 cannot answer in this state: closing is enough
