"""The variables read model. Masked values are stored sealed, exactly as in the event."""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from domain.namespaces import Namespace
from domain.variables import Variable
from projections.base import View
from projections.resources import COMMON_COLUMNS, delete_row, detach, resource_indexes


class VariablesView(View):
    projection_name = "variables"
    tables = {
        "variables": f"({COMMON_COLUMNS}key text NOT NULL, value text NOT NULL, "
        "masked boolean NOT NULL, created_at timestamptz NOT NULL)"
    }
    indexes = resource_indexes("variables")


class VariablesProjection(Projection[VariablesView]):
    name = "variables"
    topics = tuple(get_topic(c) for c in (Variable.Created, Variable.Deleted, Namespace.Deleted))

    @singledispatchmethod
    def process_event(self, domain_event: DomainEventProtocol[Any], tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def created(self, event: Variable.Created, tracking: Tracking) -> None:
        sql = f"INSERT INTO {self.view.t('variables')} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        values = (
            event.public_id,
            event.originator_id,
            event.owner_id,
            event.author_id,
            event.namespace_id,
            event.key,
            event.value,
            event.masked,
            event.timestamp,
        )
        self.view.write(tracking, lambda c: c.execute(sql, values))

    @process_event.register
    def deleted(self, event: Variable.Deleted, tracking: Tracking) -> None:
        delete_row(self.view, "variables", tracking, event.originator_id)

    @process_event.register
    def namespace_deleted(self, event: Namespace.Deleted, tracking: Tracking) -> None:
        detach(self.view, "variables", event.public_id, tracking)
