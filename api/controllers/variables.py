"""Variables: `/api/variables` and a namespace's `/-/variables`."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import JSONBody

from api.access import namespace_guard, resource_guard
from api.auth import Actor, Caller
from api.deps import Injected, Settle
from api.render import api_base
from api.resources import Namespaced, resource_out
from api.schemas.variables import VariableCreate, VariableOut
from application.variables import VariableCases
from domain.variables import MASKED_VALUE
from projections.resources import ResourceQueries, ResourceRow
from projections.rows import NamespaceRow

Req = Request[Any, Any, Any]
ONE = "/api/variables/{variable_id:int}"


def variable_out(base: str, row: ResourceRow) -> VariableOut:
    value = MASKED_VALUE if row.fields["masked"] else row.fields["value"]
    return resource_out(VariableOut, base, row, "variables", value=value)


VARIABLES = Namespaced("variable", variable_out)


class VariableController(Controller):
    tags = ["variables"]
    guards = [namespace_guard, resource_guard]

    @get("/api/variables", sync_to_thread=True, summary="Variables you can see")
    def list_variables(
        self, request: Req, caller: Injected[Caller], variables: Injected[ResourceQueries]
    ) -> Response[list[VariableOut]]:
        return VARIABLES.visible(request, caller, variables)

    @post(
        "/api/variables",
        sync_to_thread=True,
        summary="Create a variable",
        opt={"scope": "variable:write"},
    )
    def create_variable(
        self,
        request: Req,
        data: JSONBody[VariableCreate],
        actor: Injected[Actor],
        variable_cases: Injected[VariableCases],
        settle: Injected[Settle],
        variables: Injected[ResourceQueries],
    ) -> VariableOut:
        outcome = variable_cases.create_variable(
            actor.id, data.key, data.value, bool(data.mask), data.namespace, actor.origin
        )
        return VARIABLES.one(request, variables.get(settle(outcome)))

    @get(ONE, sync_to_thread=True, summary="Get a variable", opt={"resource": "variable"})
    def get_variable(self, request: Req, resource_row: Injected[ResourceRow]) -> VariableOut:
        return variable_out(api_base(request), resource_row)

    @delete(
        ONE,
        sync_to_thread=True,
        summary="Delete a variable",
        opt={"scope": "variable:delete", "resource": "variable"},
    )
    def delete_variable(
        self,
        actor: Injected[Actor],
        resource_row: Injected[ResourceRow],
        variable_cases: Injected[VariableCases],
        settle: Injected[Settle],
    ) -> None:
        settle(variable_cases.delete_variable(resource_row.id, actor.id, actor.origin))

    @get(
        "/api/n/{user:str}/{path:str}/-/variables",
        sync_to_thread=True,
        summary="A namespace's variables",
        opt={"namespace": "read"},
    )
    def namespace_variables(
        self,
        request: Req,
        namespace_row: Injected[NamespaceRow],
        variables: Injected[ResourceQueries],
    ) -> Response[list[VariableOut]]:
        return VARIABLES.in_namespace(request, namespace_row, variables)
