"""The machinery every use case shares: commands retried on a lost race, loads that say
"not found", and the deletion step of namespaced resources."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eventsourcing.persistence import IntegrityError

from application.app import MaridApplication
from application.core import MAX_ATTEMPTS, Outcome, command
from application.objects import StoredContent
from application.ports import BlobInfo
from domain.errors import ConflictError, NotFoundError
from domain.identity import aggregate_id
from domain.namespaces import Namespace
from domain.users import User
from domain.variables import Variable
from tests.unit.conftest import ORIGIN, register

Create = Callable[[MaridApplication, int], Outcome[int]]
Delete = Callable[[MaridApplication, int, int], object]


class Racer:
    """Loses its first `losses` saves to a concurrent writer, then wins."""

    def __init__(self, losses: int) -> None:
        self.losses = losses
        self.attempts = 0

    @command
    def write(self, value: str) -> str:
        self.attempts += 1
        if self.attempts <= self.losses:
            raise IntegrityError("a concurrent writer won")
        return value

    @command(attempts=2)
    def write_twice_at_most(self) -> None:
        self.attempts += 1
        raise IntegrityError("a concurrent writer won")


def test_command_runs_again_after_losing_a_race() -> None:
    racer = Racer(losses=MAX_ATTEMPTS - 1)

    result = racer.write("mine")

    assert result == "mine"
    assert racer.attempts == MAX_ATTEMPTS


def test_command_that_always_loses_gives_up_with_a_conflict() -> None:
    racer = Racer(losses=MAX_ATTEMPTS)

    with pytest.raises(ConflictError):
        racer.write("mine")

    assert racer.attempts == MAX_ATTEMPTS


def test_command_attempts_can_be_set() -> None:
    racer = Racer(losses=0)

    with pytest.raises(ConflictError):
        racer.write_twice_at_most()

    assert racer.attempts == 2


def test_command_keeps_the_use_case_name_and_docstring() -> None:
    assert MaridApplication.create_variable.__name__ == "create_variable"
    assert MaridApplication.create_variable.__doc__
    assert "sealed" in MaridApplication.create_variable.__doc__


def test_get_gives_a_saved_aggregate(app: MaridApplication) -> None:
    alice = register(app, "alice")

    user = app.get(aggregate_id("user", alice), User, "user")

    assert user.username == "alice"


@pytest.mark.parametrize(
    "lookup",
    [
        lambda app, ns_id: app.get(aggregate_id("namespace", 999), Namespace, "namespace"),
        lambda app, ns_id: app.get(aggregate_id("namespace", ns_id), User, "namespace"),
        lambda app, ns_id: app.live_namespace(ns_id + 1),
    ],
    ids=["never saved", "of another type", "unknown id"],
)
def test_get_says_not_found_for_what_is_not_there(
    app: MaridApplication, lookup: Callable[[MaridApplication, int], object]
) -> None:
    alice = register(app, "alice")
    ns_id = app.create_namespace(alice, "proj", None, None, None, ORIGIN).value

    with pytest.raises(NotFoundError) as caught:
        lookup(app, ns_id)

    assert caught.value.what == "namespace"


def test_get_says_not_found_for_a_deleted_aggregate_that_load_still_gives(
    app: MaridApplication,
) -> None:
    alice = register(app, "alice")
    variable_id = app.create_variable(alice, "DB_HOST", "db", False, None, ORIGIN).value
    app.delete_variable(variable_id, alice, ORIGIN)

    with pytest.raises(NotFoundError) as caught:
        app.get(aggregate_id("variable", variable_id), Variable, "variable")

    assert caught.value.what == "variable"
    deleted = app.load(aggregate_id("variable", variable_id), Variable)
    assert deleted is not None
    assert deleted.deleted is True


def test_find_index_is_none_for_a_key_never_claimed(app: MaridApplication) -> None:
    assert app.find_index("username", "nobody") is None
    assert app.holder("username", "nobody") is None


CRON_MANIFEST = (
    "namespace: proj\ndriver: {type: os}\nstages: [test]\njobs:\n"
    "- stage: test\n  commands: [true]\n"
)
CONTENT = StoredContent("text/plain", BlobInfo(3, "m" * 32, "s" * 64))
RESOURCES: dict[str, tuple[Create, Delete]] = {
    "variable": (
        lambda app, caller: app.create_variable(caller, "N", "v", False, "proj", ORIGIN),
        lambda app, id_, caller: app.delete_variable(id_, caller, ORIGIN),
    ),
    "object": (
        lambda app, caller: app.create_object(None, caller, "n", "proj", CONTENT, ORIGIN),
        lambda app, id_, caller: app.delete_object(id_, caller, ORIGIN),
    ),
    "cron": (
        lambda app, caller: app.create_cron(caller, "n", None, None, CRON_MANIFEST, ["os"], ORIGIN),
        lambda app, id_, caller: app.delete_cron(id_, caller, ORIGIN),
    ),
}


@pytest.mark.parametrize("kind", RESOURCES)
def test_deleting_a_namespaced_resource_frees_its_name(app: MaridApplication, kind: str) -> None:
    create, delete = RESOURCES[kind]
    alice = register(app, "alice")
    first = create(app, alice).value

    delete(app, first, alice)

    assert create(app, alice).value != first
    with pytest.raises(NotFoundError) as caught:
        delete(app, first, alice)
    assert caught.value.what == kind


@pytest.mark.parametrize("kind", RESOURCES)
def test_only_a_writer_may_delete_a_namespaced_resource(app: MaridApplication, kind: str) -> None:
    create, delete = RESOURCES[kind]
    alice, bob = register(app, "alice"), register(app, "bob")
    resource_id = create(app, alice).value

    with pytest.raises(NotFoundError) as caught:
        delete(app, resource_id, bob)

    assert caught.value.what == kind
