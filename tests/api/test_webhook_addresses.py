"""Payload URLs whose host resolves to an address deliveries may not reach are refused
when they are set (a 400 on `payload_url`, logged), unless MARID_ALLOW_PRIVATE_URLS."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from api.app import create_app
from infrastructure.public_http import FetchError, refused_address
from infrastructure.settings import Settings
from tests.conftest import Users, wired
from tests.helpers import Auth, Client, create_ns

HOOKS = "/api/n/alice/proj/-/webhooks"


@pytest.fixture
def alice(users: Users) -> Auth:
    return users.create("alice")[1]


@pytest.fixture
def proj(client: Client, alice: Auth) -> dict[str, Any]:
    return create_ns(client, alice, "proj")


def refused(address: str, kind: str) -> dict[str, list[str]]:
    return {"payload_url": [f"Payload URL resolves to a refused address ({address} is {kind})"]}


@pytest.mark.parametrize(
    ("url", "address", "kind"),
    [
        ("http://localhost:8080/x", "127.0.0.1", "a loopback address"),  # by name
        ("http://127.0.0.2:9000/x", "127.0.0.2", "a loopback address"),
        ("http://[::1]:9000/x", "::1", "a loopback address"),
        ("https://10.1.2.3/x", "10.1.2.3", "a private address"),
        ("http://169.254.169.254/latest", "169.254.169.254", "a link-local address"),
        ("http://0.0.0.0:80/x", "0.0.0.0", "an unspecified address"),  # noqa: S104  # a URL, not a bind
    ],
)
def test_a_payload_url_resolving_to_a_refused_address_is_a_400(
    client: Client,
    alice: Auth,
    proj: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    url: str,
    address: str,
    kind: str,
) -> None:
    caplog.set_level(logging.INFO, logger="marid.webhooks")

    response = client.post(HOOKS, json={"payload_url": url}, headers=alice)

    assert (response.status_code, response.json()) == (400, refused(address, kind))
    assert client.get(HOOKS, headers=alice).json() == []
    [record] = [r for r in caplog.records if r.name == "marid.webhooks"]
    assert record.levelno == logging.WARNING
    assert f"namespace {proj['id']}" in record.message
    assert f"{address} is a" in record.message


def test_every_other_field_error_is_reported_with_the_refusal(
    client: Client, alice: Auth, proj: dict[str, Any]
) -> None:
    body = {"payload_url": "http://10.0.0.1/x", "events": ["nope"]}

    response = client.post(HOOKS, json=body, headers=alice)

    assert response.status_code == 400
    assert response.json() == {
        **refused("10.0.0.1", "a private address"),
        "events": ['Events cannot contain unknown event "nope"'],
    }


def test_changing_the_url_to_a_refused_address_is_a_400_and_keeps_the_webhook(
    client: Client, alice: Auth, proj: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    created = client.post(HOOKS, json={"payload_url": "https://hooks.invalid/x"}, headers=alice)
    assert created.status_code == 201, created.text
    one = f"{HOOKS}/{created.json()['id']}"
    caplog.set_level(logging.INFO, logger="marid.webhooks")

    response = client.patch(one, json={"payload_url": "http://192.168.1.10/x"}, headers=alice)

    assert (response.status_code, response.json()) == (
        400,
        refused("192.168.1.10", "a private address"),
    )
    assert client.get(one, headers=alice).json()["payload_url"] == "https://hooks.invalid/x"
    assert any(f"webhook {created.json()['id']} of namespace" in r.message for r in caplog.records)


def test_a_host_that_does_not_resolve_is_accepted(
    client: Client, alice: Auth, proj: dict[str, Any]
) -> None:
    """It may resolve later; each delivery checks the address it resolves to then."""
    response = client.post(HOOKS, json={"payload_url": "https://hooks.invalid/x"}, headers=alice)

    assert response.status_code == 201, response.text


@pytest.fixture
def permissive(settings: Settings) -> Iterator[tuple[TestClient[Any], Users]]:
    instance = wired(dataclasses.replace(settings, allow_private_urls=True))
    instance.start()
    try:
        with TestClient(create_app(instance.settings, marid=instance)) as test_client:
            yield test_client, Users(instance)
    finally:
        instance.close()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000/x", "http://localhost:8080/x", "http://[::1]:9000/x"]
)
def test_private_addresses_are_accepted_when_the_server_allows_them(
    permissive: tuple[TestClient[Any], Users], url: str
) -> None:
    """A local receiver with a port, as in Djinn (MARID_ALLOW_PRIVATE_URLS)."""
    client, users = permissive
    auth = users.create("alice")[1]
    create_ns(client, auth, "proj")

    response = client.post(HOOKS, json={"payload_url": url}, headers=auth)

    assert response.status_code == 201, response.text
    assert response.json()["payload_url"] == url


def test_refused_address_checks_every_address_a_host_resolves_to() -> None:
    def resolver(host: str, port: int) -> list[str]:
        assert (host, port) == ("hooks.example", 443)
        return ["93.184.216.34", "fd00::1"]

    def unresolvable(host: str, port: int) -> list[str]:
        raise FetchError(f"cannot resolve {host}")

    assert refused_address("https://hooks.example/x", resolver) == ("fd00::1", "private")
    assert refused_address("https://hooks.example/x", unresolvable) is None
    assert refused_address("https://93.184.216.34/x") is None
    assert refused_address("not a url") is None
