"""Per-client rate limits: RateLimit-* headers on every answer, 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.ratelimit import ADDRESS_FACTOR, RateLimiter, client_of
from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings, SettingsError
from ops.server import trusted_proxies
from tests.conftest import Users
from tests.live_server import live_server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limiter_counts_per_client_and_window() -> None:
    clock = Clock()
    limiter = RateLimiter(2, clock)
    first, second, third = (limiter.check("a") for _ in range(3))
    assert (first.allowed, first.remaining) == (True, 1)
    assert (second.allowed, second.remaining) == (True, 0)
    assert (third.allowed, third.remaining) == (False, 0)
    assert third.reset == 60
    assert (b"retry-after", b"60") in third.headers()
    assert (b"retry-after", b"60") not in first.headers()
    assert limiter.check("b").allowed  # another client has its own budget
    clock.now += 59.5
    assert not limiter.check("a").allowed
    assert limiter.check("a").reset == 1
    clock.now += 1
    assert limiter.check("a").allowed  # a new window


def test_idle_clients_are_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(5, clock)
    limiter.check("a")
    clock.now += 61
    limiter.check("b")
    assert set(limiter._windows) == {"b"}


def test_clients_are_tokens_else_addresses() -> None:
    with_token = {"headers": [(b"authorization", b"Bearer x")], "client": ("10.0.0.1", 1)}
    assert client_of(with_token).startswith("token:")
    assert client_of({"headers": [], "client": ("10.0.0.1", 1)}) == "addr:10.0.0.1"
    assert client_of({"headers": []}) == "addr:unknown"


def test_settings_read_the_limit() -> None:
    # A person clicking never makes 20 requests a second for a minute; a script does.
    assert Settings.from_env({}).rate_limit == 1200
    assert Settings.from_env({"MARID_RATE_LIMIT": "0"}).rate_limit == 0
    assert Settings.from_env({"MARID_RATE_LIMIT": "120"}).rate_limit == 120
    with pytest.raises(SettingsError, match="MARID_RATE_LIMIT"):
        Settings.from_env({"MARID_RATE_LIMIT": "lots"})


@pytest.fixture
def limited(marid: Marid, settings: Settings) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_app(replace(settings, rate_limit=3), marid=marid)) as client:
        yield client


def test_past_the_limit_the_api_answers_429(limited: TestClient, users: Users) -> None:  # type: ignore[type-arg]
    _, alice = users.create("alice")
    _, bob = users.create("bob")
    answers = [limited.get("/api/user", headers=alice) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert [r.headers["ratelimit-remaining"] for r in answers] == ["2", "1", "0"]
    assert answers[0].headers["ratelimit-limit"] == "3"
    refused = limited.get("/api/user", headers=alice)
    assert refused.status_code == 429
    assert refused.json() == {"message": "Rate limit exceeded, try again later"}
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["content-type"] == "application/json; charset=utf-8"
    assert refused.headers["x-request-id"]
    # Writes are refused before they do anything.
    create = limited.post("/api/namespaces", json={"name": "blocked"}, headers=alice)
    assert create.status_code == 429
    assert limited.get("/api/user", headers=bob).status_code == 200


def test_no_limit_when_turned_off(marid: Marid, settings: Settings, users: Users) -> None:
    _, alice = users.create("alice")
    with TestClient(create_app(replace(settings, rate_limit=0), marid=marid)) as client:
        answers = [client.get("/api/user", headers=alice) for _ in range(5)]
    assert {r.status_code for r in answers} == {200}
    assert "ratelimit-limit" not in answers[0].headers


def test_made_up_tokens_share_their_address_budget() -> None:
    clock = Clock()
    limiter = RateLimiter(2, clock)

    def request(token: str) -> bool:
        headers = [(b"authorization", f"Bearer {token}".encode())]
        return limiter.check_request({"headers": headers, "client": ("10.0.0.9", 1)}).allowed

    assert all(request(f"made-up-{i}") for i in range(2 * ADDRESS_FACTOR))
    assert not request("one-more")
    assert len(limiter._windows) == 2 * ADDRESS_FACTOR + 1  # bounded: the refusal added none
    other = {"headers": [(b"authorization", b"Bearer x")], "client": ("10.0.0.10", 1)}
    assert limiter.check_request(other).allowed  # another address is not affected
    assert limiter.check_request({"headers": [], "client": ("10.0.0.9", 1)}).allowed  # anonymous


def forwarded_answers(port: int, forwarded_for: list[str]) -> list[int]:
    """Anonymous requests from 127.0.0.1, each claiming to forward another client."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        return [
            client.get("/version", headers={"X-Forwarded-For": address}).status_code
            for address in forwarded_for
        ]


ROTATING = [f"203.0.113.{i}" for i in range(1, 6)]


def test_forwarded_for_from_an_untrusted_peer_does_not_escape_the_limit(
    marid: Marid, settings: Settings
) -> None:
    app = create_app(replace(settings, rate_limit=3), marid=marid)

    with live_server(app, replace(settings, trusted_proxies=())) as port:
        answers = forwarded_answers(port, ROTATING)

    assert answers == [200, 200, 200, 429, 429]  # one client: 127.0.0.1, whatever it claims


@pytest.mark.parametrize("proxy", ["127.0.0.1", "127.0.0.0/8"])
def test_a_trusted_proxy_forwards_its_clients_addresses(
    marid: Marid, settings: Settings, proxy: str
) -> None:
    app = create_app(replace(settings, rate_limit=3), marid=marid)

    with live_server(app, replace(settings, trusted_proxies=(proxy,))) as port:
        rotating = forwarded_answers(port, ROTATING)
        one_client = forwarded_answers(port, ["198.51.100.7"] * 4)

    assert rotating == [200] * 5  # five clients behind the proxy, one request each
    assert one_client == [200, 200, 200, 429]


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert trusted_proxies(Settings(trusted_proxies=("10.0.0.1", "fd00::/8"))) == (
        "10.0.0.1",
        "fd00::/8",
    )
    with pytest.raises(SettingsError, match=r"MARID_TRUSTED_PROXIES .*'proxy\.example'"):
        trusted_proxies(Settings(trusted_proxies=("10.0.0.1", "proxy.example")))
