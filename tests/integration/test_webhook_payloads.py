"""What each webhook event carries (reference §16.1), driven through the API as a client
would, delivered to a real receiver: the objects are the API's own renderings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from domain.origin import Origin
from infrastructure.bootstrap import Marid
from infrastructure.settings import Settings
from tests.conftest import Users
from tests.helpers import Auth, Client
from tests.integration.webhook_support import (
    API_URL,
    Received,
    Receiver,
    delivery_settings,
    eventually,
    save_hook,
)
from tests.unit.test_keys import ed25519_key

QCOW2 = b"QFI\xfb\x00\x00\x00\x03" + bytes(range(256)) * 4
MANIFEST = (
    "namespace: proj\ndriver: {type: os}\n"
    "stages: [test]\njobs:\n- stage: test\n  commands: [true]\n"
)
WORKER = Origin.system("worker:test")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return delivery_settings(settings)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def people(users: Users) -> dict[str, tuple[int, Auth]]:
    return {name: users.create(name) for name in ("alice", "bob")}


@pytest.fixture
def alice(people: dict[str, tuple[int, Auth]]) -> Auth:
    return people["alice"][1]


@pytest.fixture
def proj(client: Client, marid: Marid, alice: Auth, receiver: Receiver) -> dict[str, Any]:
    """alice's namespace `proj`, with a webhook on every event (the API delivers: `client`)."""
    response = client.post("/api/namespaces", json={"name": "proj"}, headers=alice)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    save_hook(marid, body["id"], receiver.url("/proj"))
    return body


def sent(receiver: Receiver, event: str, count: int = 1, path: str = "/proj") -> list[Received]:
    """The first `count` deliveries of `event` to `path`, in the order they were recorded."""

    def found() -> list[Received] | None:
        got = [r for r in receiver.on(path) if r.headers["X-Djinn-CI-Event"] == event]
        return got if len(got) >= count else None

    return eventually(found)


def api(client: Client, method: str, url: str, auth: Auth, **kwargs: Any) -> Any:
    headers = {**auth, **kwargs.pop("headers", {})}
    response = client.request(method, url, headers=headers, **kwargs)
    assert response.status_code in (200, 201, 204), response.text
    return response.json() if response.status_code != 204 else None


def submit(client: Client, alice: Auth, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = api(
        client, "POST", "/api/builds", alice, json={"manifest": MANIFEST, **fields}
    )
    return body


# Builds.


def test_build_submitted_carries_the_build_object(
    client: Client, alice: Auth, proj: dict[str, Any], receiver: Receiver
) -> None:
    build = submit(client, alice, tags=["at-submit"])

    [got] = sent(receiver, "build.submitted")

    assert got.json == api(client, "GET", build["url"], alice)
    assert got.json["url"] == f"{API_URL}/b/alice/1"
    assert got.json["status"] == "queued"
    assert got.json["namespace"]["id"] == proj["id"]


def test_build_tagged_carries_build_tagger_and_new_tags_but_not_submit_tags(
    client: Client, alice: Auth, proj: dict[str, Any], receiver: Receiver
) -> None:
    build = submit(client, alice, tags=["at-submit"])

    api(client, "POST", f"{build['url']}/tags", alice, json=["v1", "at-submit", "rc/2"])

    [got] = sent(receiver, "build.tagged")
    url = build["url"]
    assert got.json["build"] == api(client, "GET", url, alice)
    assert got.json["user"] == build["user"]
    assert got.json["tags"] == [
        {"name": "v1", "url": f"{url}/tags/v1"},
        {"name": "rc/2", "url": f"{url}/tags/rc/2"},
    ]
    assert got.json["url"] == f"{url}/tags"


def test_build_pinned_and_unpinned_carry_the_build(
    client: Client, alice: Auth, proj: dict[str, Any], receiver: Receiver
) -> None:
    build = submit(client, alice)

    api(client, "PATCH", f"{build['url']}/pin", alice)
    api(client, "PATCH", f"{build['url']}/unpin", alice)

    [pinned] = sent(receiver, "build.pinned")
    [unpinned] = sent(receiver, "build.unpinned")
    assert pinned.json["pinned"] is True
    assert unpinned.json["pinned"] is False
    assert unpinned.json == api(client, "GET", build["url"], alice)


def test_build_started_and_finished_come_from_the_run(
    client: Client, marid: Marid, alice: Auth, proj: dict[str, Any], receiver: Receiver
) -> None:
    build = submit(client, alice)

    plan = marid.settle(marid.app.claim_build(build["id"], "w1", timedelta(minutes=1), WORKER))
    assert plan is not None
    marid.settle(marid.app.finish_build(build["id"], plan.claim, "failed", WORKER))

    [started] = sent(receiver, "build.started")
    [finished] = sent(receiver, "build.finished")
    assert started.json["id"] == finished.json["id"] == build["id"]
    assert started.json["status"] in ("running", "failed")  # rendered once the read model has it
    assert started.json["manifest"] == build["manifest"]
    assert finished.json["status"] == "failed"
    assert finished.json["finished_at"] is not None


def test_killing_a_queued_build_is_a_build_finished(
    client: Client, alice: Auth, proj: dict[str, Any], receiver: Receiver
) -> None:
    build = submit(client, alice)

    api(client, "DELETE", build["url"], alice)

    [got] = sent(receiver, "build.finished")
    assert got.json["status"] == "killed"


def test_a_build_outside_any_namespace_is_never_delivered(
    client: Client, marid: Marid, alice: Auth, proj: dict[str, Any], receiver: Receiver
) -> None:
    loose = api(
        client, "POST", "/api/builds", alice, json={"manifest": "driver: {type: os}\nstages: []\n"}
    )
    api(client, "PATCH", f"{loose['url']}/pin", alice)
    marker = submit(client, alice)
    api(client, "PATCH", f"{marker['url']}/pin", alice)

    [pinned] = sent(receiver, "build.pinned")

    assert pinned.json["id"] == marker["id"]
    assert [
        r.json["id"] for r in receiver.on("/proj") if "build" in r.headers["X-Djinn-CI-Event"]
    ] == [
        marker["id"],
        marker["id"],
    ]


# Namespaces.


def test_a_namespace_update_is_one_updated_event_with_the_new_state(
    client: Client, alice: Auth, proj: dict[str, Any], receiver: Receiver
) -> None:
    changed = api(
        client,
        "PATCH",
        proj["url"],
        alice,
        json={"description": "new words", "visibility": "public"},
    )

    [got] = sent(receiver, "namespaces")
    assert got.json == {"action": "updated", "namespace": changed}
    api(client, "PATCH", proj["url"], alice, json={"description": "again"})
    second = sent(receiver, "namespaces", 2)[1]
    assert second.json["namespace"]["description"] == "again"
    assert len(receiver.on("/proj")) == 2


def test_a_child_namespace_is_not_an_event_of_its_parent(
    client: Client, marid: Marid, alice: Auth, proj: dict[str, Any], receiver: Receiver
) -> None:
    child = api(client, "POST", "/api/namespaces", alice, json={"name": "child", "parent": "proj"})
    save_hook(marid, child["id"], receiver.url("/child"))

    api(client, "PATCH", child["url"], alice, json={"description": "child words"})
    api(client, "PATCH", proj["url"], alice, json={"description": "parent words"})

    [to_child] = sent(receiver, "namespaces", path="/child")
    [to_parent] = sent(receiver, "namespaces")
    assert to_child.json["namespace"]["id"] == child["id"]
    assert to_parent.json["namespace"]["id"] == proj["id"]


# Cron, images, objects, keys.


def test_cron_created_updated_and_deleted(
    client: Client, alice: Auth, proj: dict[str, Any], receiver: Receiver
) -> None:
    cron = api(client, "POST", "/api/cron", alice, json={"name": "nightly", "manifest": MANIFEST})
    changed = api(client, "PATCH", cron["url"], alice, json={"schedule": "weekly"})
    api(client, "DELETE", cron["url"], alice)

    got = sent(receiver, "cron", 3)
    by_action = {r.json["action"]: r.json["cron"] for r in got}
    assert by_action["created"] == cron
    assert by_action["updated"] == changed
    assert by_action["deleted"] == changed  # the last rendering: the read model has none now


def test_images_created_downloaded_and_deleted(
    client: Client, alice: Auth, proj: dict[str, Any], receiver: Receiver
) -> None:
    uploaded = api(
        client,
        "POST",
        "/api/images?name=alpine&namespace=proj",
        alice,
        content=QCOW2,
        headers={"Content-Type": "application/x-qemu-disk"},
    )
    fetched = api(
        client,
        "POST",
        "/api/images",
        alice,
        json={"name": "remote", "namespace": "proj", "download_url": receiver.url("/no-get")},
    )
    api(client, "DELETE", uploaded["url"], alice)

    got = sent(receiver, "images", 4)
    events = [(r.json["action"], r.json["image"]["name"]) for r in got]
    assert sorted(events) == sorted(
        [
            ("created", "alpine"),
            ("created", "remote"),
            ("downloaded", "remote"),
            ("deleted", "alpine"),
        ]
    )
    downloaded = next(r.json["image"] for r in got if r.json["action"] == "downloaded")
    assert downloaded["id"] == fetched["id"]
    assert downloaded["download"]["error"]  # the receiver answers GET with 501: a failed download
    assert downloaded["download"]["finished_at"] is not None
    deleted = next(r.json["image"] for r in got if r.json["action"] == "deleted")
    assert deleted == uploaded


def test_objects_created_and_deleted(
    client: Client, alice: Auth, proj: dict[str, Any], receiver: Receiver
) -> None:
    created = api(
        client,
        "POST",
        "/api/objects?name=data&namespace=proj",
        alice,
        content=b"some bytes",
        headers={"Content-Type": "text/plain"},
    )
    api(client, "DELETE", created["url"], alice)

    got = sent(receiver, "objects", 2)
    assert sorted((r.json["action"], r.json["object"]["id"]) for r in got) == [
        ("created", created["id"]),
        ("deleted", created["id"]),
    ]
    assert all(r.json["object"] == created for r in got)


def test_ssh_keys_created_updated_and_deleted_without_the_private_key(
    client: Client, alice: Auth, proj: dict[str, Any], receiver: Receiver
) -> None:
    private = ed25519_key()
    key = api(
        client,
        "POST",
        "/api/keys",
        alice,
        json={"name": "deploy", "key": private, "namespace": "proj"},
    )
    changed = api(client, "PATCH", key["url"], alice, json={"config": "Host example"})
    api(client, "DELETE", key["url"], alice)

    got = sent(receiver, "ssh_keys", 3)
    by_action = {r.json["action"]: r.json["key"] for r in got}
    assert by_action == {"created": key, "updated": changed, "deleted": changed}
    marker = private.splitlines()[1].encode()
    assert all(b"PRIVATE KEY" not in r.body and marker not in r.body for r in got)


# Invites.


def test_invite_sent_accepted_and_rejected(
    client: Client,
    people: dict[str, tuple[int, Auth]],
    alice: Auth,
    proj: dict[str, Any],
    receiver: Receiver,
    users: Users,
) -> None:
    bob = people["bob"][1]
    carol_id, carol = users.create("carol")
    to_bob = api(client, "POST", f"{proj['url']}/-/invites", alice, json={"handle": "bob"})
    to_carol = api(client, "POST", f"{proj['url']}/-/invites", alice, json={"handle": "carol"})

    api(client, "PATCH", to_bob["url"], bob)
    api(client, "DELETE", to_carol["url"], carol)

    invited = sent(receiver, "invite.sent", 2)
    [accepted] = sent(receiver, "invite.accepted")
    [rejected] = sent(receiver, "invite.rejected")
    namespace = api(client, "GET", proj["url"], alice)
    namespace["build"] = None
    assert sorted(r.json["invitee"]["username"] for r in invited) == ["bob", "carol"]
    assert invited[0].json == {
        "namespace": namespace,
        "inviter": to_bob["inviter"],
        "invitee": invited[0].json["invitee"],
    }
    assert accepted.json == {"namespace": namespace, "invitee": to_bob["invitee"]}
    assert rejected.json == {"namespace": namespace, "invitee": to_carol["invitee"]}
    assert rejected.json["invitee"]["id"] == carol_id


def test_accepting_an_invite_to_a_child_is_told_to_the_root(
    client: Client,
    marid: Marid,
    people: dict[str, tuple[int, Auth]],
    alice: Auth,
    proj: dict[str, Any],
    receiver: Receiver,
) -> None:
    child = api(client, "POST", "/api/namespaces", alice, json={"name": "child", "parent": "proj"})
    save_hook(marid, child["id"], receiver.url("/child"))
    invite = api(client, "POST", f"{child['url']}/-/invites", alice, json={"handle": "bob"})

    api(client, "PATCH", invite["url"], people["bob"][1])

    [sent_to_child] = sent(receiver, "invite.sent", path="/child")
    [accepted] = sent(receiver, "invite.accepted")
    assert sent_to_child.json["namespace"]["id"] == child["id"]
    assert accepted.json["namespace"]["id"] == proj["id"]
    assert not [r for r in receiver.on("/child") if r.headers["X-Djinn-CI-Event"] != "invite.sent"]
    assert not [r for r in receiver.on("/proj") if r.headers["X-Djinn-CI-Event"] == "invite.sent"]
