"""The variables read model. Masked values are stored sealed, exactly as in the event."""

from __future__ import annotations

from typing import Any

from domain.variables import Variable
from projections.base import View
from projections.resource_projection import (
    ResourceProjection,
    ResourceTables,
    resource_indexes,
    resource_table,
)


class VariablesTables(ResourceTables):
    projection_name = "variables"
    tables = resource_table(
        "variables",
        "key text NOT NULL, value text NOT NULL, masked boolean NOT NULL, "
        "created_at timestamptz NOT NULL",
    )
    indexes = resource_indexes("variables")


class VariablesView(VariablesTables, View):
    """The variables read model in PostgreSQL."""


class VariablesProjection(ResourceProjection[VariablesTables]):
    name = "variables"
    process_event = ResourceProjection.dispatch(Variable)

    def columns(self, event: Variable.Created) -> dict[str, Any]:
        return {"key": event.key, "value": event.value, "masked": event.masked}
