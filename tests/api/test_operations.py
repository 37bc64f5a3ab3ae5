"""`/healthz`, `/readyz` and `/metrics` (CONTRACT.md "Operations endpoints")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from api.app import create_app
from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from projections.registry import PROJECTIONS
from tests.conftest import TEST_ORIGIN, Users, wired
from tests.helpers import Auth, Client, create_ns


def samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(text: str, name: str, **labels: str) -> float:
    wanted = labels.items()
    found = [s.value for s in samples(text) if s.name == name and wanted <= s.labels.items()]
    assert len(found) == 1, (name, labels, found)
    return found[0]


@pytest.fixture
def idle_marid(settings: Settings) -> Iterator[Marid]:
    """A marid whose projection runners never start: its read models lag every event."""
    instance = wired(replace(settings, ready_max_lag=2))
    yield instance
    instance.close()


def test_healthz_answers_ok_without_a_token(client: Client) -> None:
    response = client.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_is_ready_when_every_read_model_is_caught_up(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "proj")

    response = client.get("/readyz")

    assert (response.status_code, response.json()) == (200, {"status": "ready"})


def test_readyz_is_503_with_reasons_while_a_read_model_lags(idle_marid: Marid) -> None:
    idle_marid.app.register_user("carol", "carol@example.com", TEST_ORIGIN)
    idle_marid.app.register_user("dave", "dave@example.com", TEST_ORIGIN)

    with TestClient(create_app(idle_marid.settings, marid=idle_marid)) as client:
        response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unready"
    assert any(reason.startswith("projection users lags 2 events") for reason in body["reasons"])


def test_readyz_stays_ready_while_the_lag_is_under_the_limit(idle_marid: Marid) -> None:
    idle_marid.app.register_user("carol", "carol@example.com", TEST_ORIGIN)

    with TestClient(create_app(idle_marid.settings, marid=idle_marid)) as client:
        response = client.get("/readyz")

    assert response.status_code == 200


def test_metrics_counts_requests_by_route_template_and_status(client: Client, alice: Auth) -> None:
    create_ns(client, alice, "proj")
    client.get("/api/namespaces/12345", headers=alice)
    client.get("/no/such/path/8d41")

    text = client.get("/metrics").text

    assert value(text, "marid_http_requests_total", method="POST", route="/api/namespaces") == 1
    routes = {s.labels.get("route") for s in samples(text) if "route" in s.labels}
    assert "/no/such/path/8d41" not in routes
    assert "<unmatched>" in routes
    assert not any("12345" in route for route in routes if route)
    latency = value(
        text, "marid_http_request_duration_seconds_count", method="POST", route="/api/namespaces"
    )
    assert latency == 1


def test_metrics_report_builds_webhooks_projections_and_pool(client: Client, marid: Marid) -> None:
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert value(text, "marid_builds", status="queued") == 0
    assert value(text, "marid_builds", status="running") == 0
    assert value(text, "marid_webhook_deliveries", result="failed") == 0
    for name in PROJECTIONS:
        assert value(text, "marid_projection_lag_events", projection=name) == 0
    assert value(text, "marid_projection_lag_events", projection="webhook_dispatch") >= 0
    assert value(text, "marid_db_pool_max_connections") > 0
    assert value(text, "marid_db_pool_connections", state="in_use") >= 0


def test_metrics_show_projection_lag_of_unapplied_events(idle_marid: Marid) -> None:
    idle_marid.app.register_user("carol", "carol@example.com", TEST_ORIGIN)

    with TestClient(create_app(idle_marid.settings, marid=idle_marid)) as client:
        text = client.get("/metrics").text

    assert value(text, "marid_projection_lag_events", projection="users") == 1
    head = value(text, "marid_projection_head", projection="users")
    assert value(text, "marid_projection_position", projection="users") < head


def test_each_app_counts_only_its_own_requests(marid: Marid, settings: Settings) -> None:
    with TestClient(create_app(settings, marid=marid)) as first:
        first.get("/healthz")
    with TestClient(create_app(settings, marid=marid)) as second:
        text = second.get("/metrics").text

    assert not any(s.labels.get("route") == "/healthz" for s in samples(text))


@pytest.fixture
def guarded(marid: Marid, settings: Settings) -> Iterator[Client]:
    app = create_app(replace(settings, metrics_token="scrape-secret-1"), marid=marid)
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong", "scrape-secret-1", "Basic scrape-secret-1", "Bearer "]
)
def test_metrics_token_when_set_is_required(guarded: Client, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}

    response = guarded.get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_metrics_token_when_set_lets_its_bearer_scrape(guarded: Client) -> None:
    response = guarded.get("/metrics", headers={"Authorization": "Bearer scrape-secret-1"})

    assert response.status_code == 200
    assert "marid_builds" in response.text


def test_operations_endpoints_need_no_user_token(guarded: Client, users: Users) -> None:
    assert guarded.get("/healthz").status_code == 200
    assert guarded.get("/readyz").status_code == 200
