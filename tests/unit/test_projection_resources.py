"""What every namespaced resource's read model does alike, checked on each of the five."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.crons import Cron
from domain.images import Image
from domain.keys import SshKey
from domain.objects import Object
from domain.variables import Variable
from projections.crons import CronsProjection, CronsTables
from projections.images import ImagesProjection, ImagesTables
from projections.keys import KeysProjection, KeysTables
from projections.memory import in_memory
from projections.objects import ObjectsProjection, ObjectsTables
from projections.resource_projection import ResourceProjection, ResourceTables
from projections.variables import VariablesProjection, VariablesTables
from tests.unit.projection_support import (
    APP,
    ORIGIN,
    feed,
    namespace_deleted,
    unrelated_event,
)

NEXT_RUN = datetime(2030, 1, 2, tzinfo=UTC)


def variable(public_id: int, namespace_id: int | None) -> Variable:
    return Variable(
        public_id=public_id,
        owner_id=1,
        author_id=2,
        namespace_id=namespace_id,
        key=f"K{public_id}",
        value="v",
        masked=False,
        origin=ORIGIN,
    )


def key(public_id: int, namespace_id: int | None) -> SshKey:
    return SshKey(
        public_id=public_id,
        owner_id=1,
        author_id=2,
        namespace_id=namespace_id,
        name=f"k{public_id}",
        key="sealed",
        config="",
        origin=ORIGIN,
    )


def object_(public_id: int, namespace_id: int | None) -> Object:
    return Object(
        public_id=public_id,
        owner_id=1,
        author_id=2,
        namespace_id=namespace_id,
        name=f"o{public_id}",
        content_type="text/plain",
        size=3,
        md5="m",
        sha256="s",
        origin=ORIGIN,
    )


def image(public_id: int, namespace_id: int | None) -> Image:
    return Image(
        public_id=public_id,
        owner_id=1,
        author_id=2,
        namespace_id=namespace_id,
        name=f"i{public_id}",
        driver="qemu",
        blob_key=f"images/{public_id}",
        size=3,
        sha256="s",
        download_source=None,
        download_url=None,
        origin=ORIGIN,
    )


def cron(public_id: int, namespace_id: int | None) -> Cron:
    return Cron(
        public_id=public_id,
        owner_id=1,
        author_id=2,
        namespace_id=namespace_id,
        name=f"c{public_id}",
        schedule="daily",
        timezone="UTC",
        manifest="driver: {}",
        next_run=NEXT_RUN,
        origin=ORIGIN,
    )


Make = Callable[[int, int | None], Any]
RESOURCES = [
    pytest.param(VariablesProjection, VariablesTables, variable, id="variables"),
    pytest.param(KeysProjection, KeysTables, key, id="keys"),
    pytest.param(ObjectsProjection, ObjectsTables, object_, id="objects"),
    pytest.param(ImagesProjection, ImagesTables, image, id="images"),
    pytest.param(CronsProjection, CronsTables, cron, id="crons"),
]


def projected(
    projection_class: type[ResourceProjection[Any]], tables: type[ResourceTables]
) -> tuple[ResourceProjection[Any], ResourceTables]:
    view = in_memory(tables)
    return projection_class(view=view), view


@pytest.mark.parametrize(("projection_class", "tables", "make"), RESOURCES)
def test_created_resource_has_the_common_columns(
    projection_class: type[ResourceProjection[Any]], tables: type[ResourceTables], make: Make
) -> None:
    projection, view = projected(projection_class, tables)
    resource = make(3, 7)

    feed(projection, resource.collect_events())

    [row] = view.rows(tables.projection_name)
    assert {c: row[c] for c in ("id", "aggregate_id", "user_id", "author_id", "namespace_id")} == {
        "id": 3,
        "aggregate_id": resource.id,
        "user_id": 1,
        "author_id": 2,
        "namespace_id": 7,
    }
    assert row["created_at"] == resource.created_on
    assert view.max_tracking_id(APP) == 1


@pytest.mark.parametrize(("projection_class", "tables", "make"), RESOURCES)
def test_deleted_resource_leaves_no_row(
    projection_class: type[ResourceProjection[Any]], tables: type[ResourceTables], make: Make
) -> None:
    projection, view = projected(projection_class, tables)
    kept, gone = make(1, None), make(2, None)
    last = feed(projection, [*kept.collect_events(), *gone.collect_events()])
    gone.delete(ORIGIN)

    feed(projection, gone.collect_events(), first=last + 1)

    assert [row["id"] for row in view.rows(tables.projection_name)] == [1]
    assert view.max_tracking_id(APP) == 3


@pytest.mark.parametrize(("projection_class", "tables", "make"), RESOURCES)
def test_namespace_deletion_detaches_its_resources_only(
    projection_class: type[ResourceProjection[Any]], tables: type[ResourceTables], make: Make
) -> None:
    projection, view = projected(projection_class, tables)
    resources = [make(1, 7), make(2, 8), make(3, None)]
    last = feed(projection, [e for r in resources for e in r.collect_events()])

    feed(projection, namespace_deleted(7), first=last + 1)

    rows = view.rows(tables.projection_name, order_by="id")
    assert [(row["id"], row["namespace_id"]) for row in rows] == [(1, None), (2, 8), (3, None)]


@pytest.mark.parametrize(("projection_class", "tables", "make"), RESOURCES)
def test_repeated_notifications_are_ignored(
    projection_class: type[ResourceProjection[Any]], tables: type[ResourceTables], make: Make
) -> None:
    projection, view = projected(projection_class, tables)
    resource = make(1, 7)
    created = resource.collect_events()
    resource.delete(ORIGIN)
    deleted = resource.collect_events()
    feed(projection, created, first=5)

    feed(projection, created, first=5)  # would be a second row with the same key
    feed(projection, deleted, first=4)
    feed(projection, namespace_deleted(7), first=5)

    assert [(row["id"], row["namespace_id"]) for row in view.rows(tables.projection_name)] == [
        (1, 7)
    ]
    assert view.max_tracking_id(APP) == 5


@pytest.mark.parametrize(("projection_class", "tables", "make"), RESOURCES)
def test_events_without_a_handler_only_advance_tracking(
    projection_class: type[ResourceProjection[Any]], tables: type[ResourceTables], make: Make
) -> None:
    projection, view = projected(projection_class, tables)

    feed(projection, [unrelated_event()], first=9)

    assert view.rows(tables.projection_name) == []
    assert view.max_tracking_id(APP) == 9
