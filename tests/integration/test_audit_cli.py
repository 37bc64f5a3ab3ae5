"""`marid audit`: filters, readable table and JSON lines, follow, history and time travel,
run as the real executable against the test database."""

from __future__ import annotations

import json
import signal
import subprocess
from typing import Any

import psycopg
import pytest

from infrastructure.bootstrap import Marid
from tests.conftest import Users
from tests.helpers import Client
from tests.integration.audit_story import SECRET_VALUE, Story, tell
from tests.integration.test_cli import MARID, Cli, assert_usage_error


@pytest.fixture
def cli(settings: Any) -> Cli:
    return Cli(settings)


@pytest.fixture
def story(client: Client, users: Users, marid: Marid) -> Story:
    return tell(client, users, marid)


def lines(cli: Cli, *args: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in cli.ok("audit", "--json", *args).splitlines()]


def events(cli: Cli, *args: str) -> list[str]:
    return [e["event"] for e in lines(cli, *args)]


def test_audit_prints_an_aligned_table_with_readable_names(cli: Cli, story: Story) -> None:
    out = cli.ok("audit", "--resource", f"variable:{story.variable_id}").splitlines()

    header, created, deleted = out
    assert header.split() == ["ID", "TIME", "EVENT", "RESOURCE", "ACTOR", "REQUEST", "DATA"]
    assert "Variable.Created" in created
    assert "Variable.Deleted" in deleted
    assert f"variable:{story.variable_id} SECRET" in created
    assert "alice" in created
    assert "req-var-create" in created
    assert created.index("alice") == deleted.index("alice") == header.index("ACTOR")
    assert "value=<sealed>" in created


def test_index_bookkeeping_is_hidden_unless_all(cli: Cli, story: Story) -> None:
    assert not [e for e in events(cli, "--limit", "500") if e.startswith("Index.")]
    assert "Index.Claimed" in events(cli, "--all", "--limit", "500")


def test_masked_values_stay_sealed_and_are_marked(cli: Cli, story: Story) -> None:
    (created,) = lines(cli, "--event", "Variable.Created")

    sealed = created["data"]["value"]
    assert set(sealed) == {"sealed"}
    assert sealed["sealed"].startswith("v1:")
    assert created["data"]["masked"] is True
    everything = cli.ok("audit", "--json", "--all", "--limit", "500")
    assert SECRET_VALUE not in everything


def test_filter_by_resource_kind_id_and_namespace_path(cli: Cli, story: Story) -> None:
    assert set(events(cli, "--resource", "cron")) == {
        "Cron.Created",
        "Cron.Updated",
        "Cron.Deleted",
    }
    by_id = events(cli, "--resource", f"namespace:{story.namespace_id}")
    by_path = events(cli, "--resource", "namespace:alice/djinn")  # deleted: no index holds it

    assert by_id == by_path
    assert by_id[0] == "Namespace.Created"
    assert by_id[-1] == "Namespace.Deleted"
    assert "Namespace.DescriptionChanged" in by_id
    assert events(cli, "--resource", "build:alice/1") == events(
        cli, "--resource", f"build:{story.build_id}"
    )


def test_filter_by_actor(cli: Cli, story: Story) -> None:
    mine = lines(cli, "--actor", "alice", "--limit", "500")
    system = lines(cli, "--actor", "system:*", "--limit", "500")

    assert mine
    assert {e["actor"] for e in mine} == {"alice"}
    assert system
    assert {e["actor"] for e in system} == {"system:test"}
    assert lines(cli, "--actor", "system:test", "--limit", "500") == system


def test_filter_by_time(cli: Cli, story: Story) -> None:
    since = lines(cli, "--since", story.changed.isoformat(), "--limit", "500")
    until = lines(cli, "--until", story.created.isoformat(), "--limit", "500")
    between = lines(cli, "--since", story.created.isoformat(), "--until", story.changed.isoformat())

    assert {e["request_id"] for e in since} == {
        "req-var-delete",
        "req-cron-delete",
        "req-ns-delete",
    }
    assert "req-var-create" in {e["request_id"] for e in until}
    assert not {e["request_id"] for e in until} & {"req-ns-update", "req-var-delete"}
    assert {e["request_id"] for e in between} == {
        "req-ns-update",
        "req-cron-update",
        "req-build-kill",
    }
    assert len(lines(cli, "--since", "1h", "--limit", "500")) == len(lines(cli, "--limit", "500"))
    assert lines(cli, "--until", "1d") == []


def test_filter_by_event_type_full_or_short(cli: Cli, story: Story) -> None:
    assert events(cli, "--event", "Variable.Deleted") == ["Variable.Deleted"]
    assert set(events(cli, "--event", "Deleted")) == {
        "Variable.Deleted",
        "Cron.Deleted",
        "Namespace.Deleted",
    }


def test_filter_by_request_id(cli: Cli, story: Story) -> None:
    assert events(cli, "--request-id", "req-var-create") == ["Variable.Created"]
    assert "Index.Claimed" in events(cli, "--request-id", "req-var-create", "--all")


def test_limit_keeps_the_newest_events(cli: Cli, story: Story) -> None:
    newest = lines(cli, "--limit", "2")

    assert [e["request_id"] for e in newest] == ["req-cron-delete", "req-ns-delete"]
    assert newest[0]["id"] < newest[1]["id"]


def test_show_prints_a_resources_whole_history(cli: Cli, story: Story) -> None:
    out = cli.ok("audit", "show", f"cron:{story.cron_id}").splitlines()

    assert [line.split()[2] for line in out[1:]] == ["Cron.Created", "Cron.Updated", "Cron.Deleted"]
    assert "weekly" in out[2]


def test_state_answers_who_changed_a_variable_when_and_its_mask_state(
    cli: Cli, story: Story
) -> None:
    at = story.created.isoformat()

    out = cli.ok("audit", "state", f"variable:{story.variable_id}", "--at", at)

    assert f"variable:{story.variable_id} SECRET as of" in out
    assert "Variable.Created" in out
    assert "by alice, request req-var-create" in out
    fields = dict(line.split(None, 1) for line in out.splitlines()[2:])
    assert fields["masked"] == "true"
    assert fields["deleted"] == "false"
    assert fields["value"].startswith("<sealed> v1:")
    assert SECRET_VALUE not in out


def state(cli: Cli, address: str, at: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        cli.ok("audit", "state", address, "--at", at.isoformat(), "--json")
    )
    return result


def test_state_of_a_deleted_variable(cli: Cli, story: Story) -> None:
    then = state(cli, f"variable:{story.variable_id}", story.deleted)

    assert then["state"]["deleted"] is True
    assert then["last_event"]["event"] == "Variable.Deleted"
    assert then["last_event"]["request_id"] == "req-var-delete"


def test_state_of_a_namespace_before_and_after_change_and_delete(cli: Cli, story: Story) -> None:
    before = state(cli, "namespace:alice/djinn", story.created)
    after = state(cli, "namespace:alice/djinn", story.changed)
    gone = state(cli, f"namespace:{story.namespace_id}", story.deleted)

    assert (before["state"]["description"], before["state"]["deleted"]) == ("first", False)
    assert (after["state"]["description"], after["state"]["deleted"]) == ("second", False)
    assert gone["state"]["deleted"] is True
    assert before["version"] < after["version"] < gone["version"]


def test_state_of_a_build_before_and_after_it_was_killed(cli: Cli, story: Story) -> None:
    before = state(cli, "build:alice/1", story.created)
    after = state(cli, f"build:{story.build_id}", story.changed)

    assert before["state"]["status"] != "killed"
    assert after["state"]["status"] == "killed"
    assert after["last_event"]["request_id"] == "req-build-kill"


def test_state_of_a_cron_through_update_and_delete(cli: Cli, story: Story) -> None:
    address = f"cron:{story.cron_id}"

    names = [state(cli, address, t)["state"]["name"] for t in (story.created, story.changed)]

    assert names == ["nightly", "weekly"]
    assert state(cli, address, story.deleted)["state"]["deleted"] is True


def test_state_before_a_resource_existed_is_an_error(cli: Cli, story: Story) -> None:
    result = cli("audit", "state", f"cron:{story.cron_id}", "--at", "2020-01-01T00:00:00Z")

    assert_usage_error(result)
    assert "did not exist yet" in result.stderr


def test_follow_streams_new_events_until_interrupted(
    cli: Cli, client: Client, users: Users
) -> None:
    _, alice = users.create("alice")
    follow = subprocess.Popen(
        [MARID, "audit", "--json", "--follow", "--event", "Variable.Created"],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        created = client.post("/api/variables", json={"key": "A", "value": "1"}, headers=alice)
        assert created.status_code == 201, created.text
        assert follow.stdout is not None

        line = json.loads(follow.stdout.readline())  # printed whether before or after it started

        assert line["event"] == "Variable.Created"
        assert line["resource"]["id"] == created.json()["id"]
        follow.send_signal(signal.SIGINT)
        assert follow.wait(timeout=30) == 0
    finally:
        follow.kill()
        follow.communicate()


@pytest.mark.parametrize(
    "args",
    [
        ["--limit", "-1"],
        ["--limit", "0"],
        ["--since", "yesterday"],
        ["--until", "2026-13-01"],
        ["--resource", "planet:1"],
        ["--resource", "variable:abc"],
        ["--event", "Variable Created"],
        ["--actor", "nobody-here"],
        ["--since", "1h", "--until", "2h"],
        ["show", "variable"],
        ["state", "cron:x/y", "--at", "1h"],
        ["state", "variable:999"],
    ],
)
def test_bad_audit_arguments_are_one_line_and_status_2(cli: Cli, args: list[str]) -> None:
    assert_usage_error(cli("audit", *args))


def test_users_create_admin_makes_an_administrator(cli: Cli, database: str) -> None:
    cli.ok("users", "create", "root", "--email", "root@example.com", "--admin")
    cli.ok("users", "create", "plain", "--email", "plain@example.com")

    with psycopg.connect(database) as conn:
        rows = conn.execute("SELECT username, admin FROM users ORDER BY id").fetchall()

    assert rows == [("root", True), ("plain", False)]
