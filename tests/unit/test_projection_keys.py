"""The keys projection on its in-memory view: events in, rows out."""

from __future__ import annotations

from domain.keys import SshKey
from projections.keys import KeysProjection, KeysTables
from projections.memory import in_memory
from tests.unit.projection_support import APP, ORIGIN, feed


def ssh_key() -> SshKey:
    return SshKey(
        public_id=2,
        owner_id=1,
        author_id=1,
        namespace_id=None,
        name="deploy",
        key="sealed:private",
        config="Host example.com",
        origin=ORIGIN,
    )


def test_created_key_keeps_the_private_key_sealed_and_is_updated_at_creation() -> None:
    view = in_memory(KeysTables)
    key = ssh_key()

    feed(KeysProjection(view=view), key.collect_events())

    assert view.rows("keys") == [
        {
            "id": 2,
            "aggregate_id": key.id,
            "user_id": 1,
            "author_id": 1,
            "namespace_id": None,
            "name": "deploy",
            "key": "sealed:private",
            "config": "Host example.com",
            "created_at": key.created_on,
            "updated_at": key.created_on,
        }
    ]


def test_updated_key_changes_its_config_and_update_time_once() -> None:
    view = in_memory(KeysTables)
    projection = KeysProjection(view=view)
    key = ssh_key()
    feed(projection, key.collect_events())
    key.update("Host other", ORIGIN)
    [updated] = key.collect_events()
    key.update("Host third", ORIGIN)
    [again] = key.collect_events()

    feed(projection, [updated], first=2)
    feed(projection, [again], first=2)  # a repeated notification id: ignored

    [row] = view.rows("keys")
    assert (row["config"], row["updated_at"]) == ("Host other", updated.timestamp)
    assert row["created_at"] == key.created_on
    assert view.max_tracking_id(APP) == 2
