"""A write whose read model lags past the wait bound answers 503 with `Retry-After`, and
says so in one warning; the write itself stands (never a 404 for a saved change)."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest

from domain.scopes import Scopes
from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from infrastructure.tokens import generate_token, hash_token
from projections.runner import Runner
from tests.conftest import TEST_ORIGIN
from tests.helpers import Auth, Client, names

MANIFEST = "driver:\n  type: os\nstages: [test]\njobs:\n- stage: test\n  commands: [true]\n"
NOT_SETTLED = {"message": "The change was saved but cannot be read back yet; read it again shortly"}
CATCH_UP = 15.0  # seconds a running read model may take on a loaded machine


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, read_wait_timeout=0.3)


@pytest.fixture
def alice(marid: Marid) -> Auth:
    """alice's token, waited for with a generous bound (the module's own bound is short)."""
    user = marid.app.register_user("alice", "alice@example.com", TEST_ORIGIN)
    secret = generate_token()
    outcome = marid.app.create_token(
        user.value, "test", hash_token(secret), Scopes.all(), None, TEST_ORIGIN
    )
    assert marid.read_models.wait_for(user.recordings + outcome.recordings, CATCH_UP)
    return {"Authorization": f"Bearer {secret}"}


def stop_runner(marid: Marid, name: str) -> None:
    marid.read_models.runners[name].stop()


def restart_runner(marid: Marid, name: str) -> None:
    runner = Runner(marid.app, marid.projections[name], marid.conninfo)
    marid.read_models.attach(runner)
    runner.start()
    head = marid.app.recorder.max_notification_id() or 0
    assert marid.read_models.wait_until(name, head, CATCH_UP)


def lag_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "marid.projections" and r.levelno == logging.WARNING
    ]


def submit(client: Client, auth: Auth, key: str | None = None) -> Any:
    headers = auth if key is None else {**auth, "Idempotency-Key": key}
    return client.post("/api/builds", json={"manifest": MANIFEST}, headers=headers)


def test_a_create_whose_read_model_lags_answers_503_and_is_saved(
    client: Client, marid: Marid, alice: Auth, caplog: pytest.LogCaptureFixture
) -> None:
    stop_runner(marid, "namespaces")
    caplog.set_level(logging.WARNING, "marid.projections")

    response = client.post("/api/namespaces", json={"name": "proj"}, headers=alice)

    assert response.status_code == 503
    assert response.json() == NOT_SETTLED
    assert response.headers["retry-after"] == "5"
    [warning] = lag_warnings(caplog)
    assert warning.startswith("read model namespaces did not reach notification")
    assert "notifications behind" in warning
    restart_runner(marid, "namespaces")
    assert names(client.get("/api/namespaces", headers=alice)) == ["proj"]


def test_a_delete_whose_read_model_lags_answers_503_not_404(
    client: Client, marid: Marid, alice: Auth
) -> None:
    created = client.post("/api/variables", json={"key": "K", "value": "v"}, headers=alice)
    assert created.status_code == 201, created.text
    stop_runner(marid, "variables")

    response = client.delete(f"/api/variables/{created.json()['id']}", headers=alice)

    assert response.status_code == 503
    assert response.json() == NOT_SETTLED
    restart_runner(marid, "variables")
    assert client.get(f"/api/variables/{created.json()['id']}", headers=alice).status_code == 404


def test_a_repeated_idempotency_key_answers_503_while_builds_lag(
    client: Client, marid: Marid, alice: Auth, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "marid.projections")
    first = submit(client, alice, "retry-1")
    assert first.status_code == 201, first.text
    stop_runner(marid, "builds")
    assert submit(client, alice).status_code == 503  # a second build the read model lacks
    caplog.clear()

    again = submit(client, alice, "retry-1")

    assert again.status_code == 503
    assert again.headers["retry-after"] == "5"
    [warning] = lag_warnings(caplog)
    assert warning.startswith("read model builds did not reach notification")
    restart_runner(marid, "builds")
    assert submit(client, alice, "retry-1").json() == first.json()
