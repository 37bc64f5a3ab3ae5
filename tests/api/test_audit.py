"""`GET /api/audit`: the event log for administrators, newest first, filtered and paged."""

from __future__ import annotations

from typing import Any

import pytest

from infrastructure.bootstrap import Marid
from tests.conftest import Users
from tests.helpers import BASE, NOT_FOUND, RFC3339_Z, Auth, Client
from tests.integration.audit_story import SECRET_VALUE, Story, tell


@pytest.fixture
def story(client: Client, users: Users, marid: Marid) -> Story:
    return tell(client, users, marid)


def audit(client: Client, auth: Auth, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/audit", params={"per_page": 100, **params}, headers=auth)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()
    return items


def test_anonymous_callers_are_unauthorized(client: Client, story: Story) -> None:
    response = client.get("/api/audit")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_the_audit_is_not_found_for_users_who_are_not_administrators(
    client: Client, story: Story
) -> None:
    response = client.get("/api/audit", headers=story.alice)

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_items_name_the_event_resource_actor_and_request(client: Client, story: Story) -> None:
    (item,) = audit(client, story.admin, request_id="req-var-create")

    assert item["event"] == "Variable.Created"
    assert RFC3339_Z.match(item["time"])
    assert item["resource"] == {
        "kind": "variable",
        "id": story.variable_id,
        "name": "SECRET",
        "url": f"{BASE}/variables/{story.variable_id}",
    }
    assert item["actor"] == "alice"
    assert item["data"]["key"] == "SECRET"
    assert item["data"]["masked"] is True
    assert item["data"]["value"]["sealed"].startswith("v1:")


def test_secrets_are_never_shown_opened(client: Client, story: Story) -> None:
    response = client.get("/api/audit", params={"per_page": 100}, headers=story.admin)

    assert SECRET_VALUE not in response.text


def test_events_are_newest_first_and_paged(client: Client, story: Story) -> None:
    everything = audit(client, story.admin)

    response = client.get("/api/audit", params={"per_page": 2, "page": 2}, headers=story.admin)

    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True)
    assert [e["id"] for e in response.json()] == ids[2:4]
    assert response.headers["X-Total-Count"] == str(len(everything))
    assert 'page=3>; rel="next"' in response.headers["Link"]
    assert 'page=1>; rel="prev"' in response.headers["Link"]
    assert "per_page=2" in response.headers["Link"]


def test_index_bookkeeping_is_not_listed(client: Client, story: Story) -> None:
    assert not [e for e in audit(client, story.admin) if e["event"].startswith("Index.")]


def test_filter_by_resource(client: Client, story: Story) -> None:
    by_id = audit(client, story.admin, resource=f"namespace:{story.namespace_id}")
    by_path = audit(client, story.admin, resource="namespace:alice/djinn")
    crons = audit(client, story.admin, resource="cron")

    assert by_id == by_path
    assert by_id[0]["event"] == "Namespace.Deleted"
    assert by_id[-1]["resource"]["url"] == f"{BASE}/n/alice/djinn"
    assert {e["event"] for e in crons} == {"Cron.Created", "Cron.Updated", "Cron.Deleted"}


def test_filter_by_actor(client: Client, story: Story) -> None:
    mine = audit(client, story.admin, actor="alice")
    system = audit(client, story.admin, actor="system:*")

    assert {e["actor"] for e in mine} == {"alice"}
    assert {e["actor"] for e in system} == {"system:test"}
    assert len(mine) + len(system) == len(audit(client, story.admin))


def test_filter_by_time(client: Client, story: Story) -> None:
    since = audit(client, story.admin, since=story.changed.isoformat())
    until = audit(client, story.admin, until=story.created.isoformat())

    assert {e["request_id"] for e in since} == {
        "req-var-delete",
        "req-cron-delete",
        "req-ns-delete",
    }
    assert "req-ns-update" not in {e["request_id"] for e in until}
    assert "req-ns-create" in {e["request_id"] for e in until}


def test_filter_by_event_type(client: Client, story: Story) -> None:
    assert [e["event"] for e in audit(client, story.admin, event="Cron.Updated")] == [
        "Cron.Updated"
    ]
    assert {e["event"] for e in audit(client, story.admin, event="Deleted")} == {
        "Variable.Deleted",
        "Cron.Deleted",
        "Namespace.Deleted",
    }


def test_filter_by_request_id(client: Client, story: Story) -> None:
    items = audit(client, story.admin, request_id="req-build-kill")

    assert items
    assert {e["resource"]["kind"] for e in items} == {"build"}
    assert items[0]["resource"]["url"] == f"{BASE}/b/alice/1"


def test_filters_that_cannot_be_understood_are_a_400_naming_them(
    client: Client, story: Story
) -> None:
    response = client.get(
        "/api/audit",
        params={"since": "soon", "resource": "planet:3", "event": "a b"},
        headers=story.admin,
    )

    assert response.status_code == 400
    assert set(response.json()) == {"since", "resource", "event"}
