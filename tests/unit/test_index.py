"""Index aggregates: who holds a natural key, claims by others refused until released."""

from __future__ import annotations

import pytest

from domain.identity import index_id
from domain.index import Index, KeyTakenError
from domain.origin import Origin

ORIGIN = Origin.user(1, "req-1")


def claimed(holder: int = 1) -> Index:
    index = Index(kind="username", key="alice", holder=holder, origin=ORIGIN)
    index.collect_events()
    return index


def test_index_id_derives_from_kind_and_key() -> None:
    index = claimed()

    assert index.id == index_id("username", "alice")


def test_claim_by_the_holder_changes_nothing() -> None:
    index = claimed(holder=1)

    index.claim(1, ORIGIN)

    assert index.collect_events() == []
    assert index.holder == 1


def test_claim_by_another_holder_is_refused() -> None:
    index = claimed(holder=1)

    with pytest.raises(KeyTakenError) as caught:
        index.claim(2, ORIGIN)

    assert (caught.value.kind, caught.value.key) == ("username", "alice")
    assert index.holder == 1


def test_released_key_can_be_claimed_by_another_holder() -> None:
    index = claimed(holder=1)
    index.release(1, ORIGIN)

    index.claim(2, ORIGIN)

    assert [type(e) for e in index.collect_events()] == [Index.Released, Index.Reclaimed]
    assert index.holder == 2


def test_only_the_holder_can_release_a_key() -> None:
    index = claimed(holder=1)

    index.release(2, ORIGIN)

    assert index.collect_events() == []
    assert index.holder == 1
