"""Variables: `/api/variables` and a namespace's `/-/variables`."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody

from api import paging
from api.access import namespace_guard
from api.auth import Caller
from api.render import api_base, origin
from api.resources import common_fields, readable_resource, resource_guard
from api.schemas.variables import VariableCreate, VariableOut
from domain.variables import MASKED_VALUE
from infrastructure.bootstrap import Marid
from projections.resources import ResourceRow
from projections.rows import NamespaceRow

Req = Request[Any, Any, Any]


def variable_out(base: str, row: ResourceRow) -> VariableOut:
    f = row.fields
    return VariableOut(
        key=f["key"],
        value=MASKED_VALUE if f["masked"] else f["value"],
        masked=f["masked"],
        **common_fields(base, row, f"{base}/variables/{f['id']}"),  # type: ignore[arg-type]
    )


class VariableController(Controller):
    tags = ["variables"]
    guards = [namespace_guard, resource_guard]

    @get("/api/variables", sync_to_thread=True, summary="Variables you can see")
    def list_variables(
        self, request: Req, marid: NamedDependency[Marid], caller: NamedDependency[Caller]
    ) -> Response[list[VariableOut]]:
        user = caller.require("variable", "read")
        page, per_page = paging.requested(request)
        rows, at = marid.variables.visible(
            user.id, request.query_params.get("search"), page, per_page
        )
        base = api_base(request)
        return Response([variable_out(base, r) for r in rows], headers=paging.headers(request, at))

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
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> VariableOut:
        user = caller.signed_in()
        outcome = marid.app.create_variable(
            user.id, data.key, data.value, bool(data.mask), data.namespace, origin(request, user.id)
        )
        row = marid.variables.get(marid.settle(outcome))
        if row is None:
            raise NotFoundException()
        return variable_out(api_base(request), row)

    @get("/api/variables/{variable_id:int}", sync_to_thread=True, summary="Get a variable")
    def get_variable(
        self,
        request: Req,
        variable_id: FromPath[int],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> VariableOut:
        row = readable_resource(marid, caller, marid.variables.get(variable_id), "variable")
        return variable_out(api_base(request), row)

    @delete(
        "/api/variables/{variable_id:int}",
        sync_to_thread=True,
        summary="Delete a variable",
        opt={"scope": "variable:delete", "resource": "variable"},
    )
    def delete_variable(
        self,
        request: Req,
        variable_id: FromPath[int],
        marid: NamedDependency[Marid],
        caller: NamedDependency[Caller],
    ) -> None:
        user = caller.signed_in()
        row = marid.variables.get(variable_id)
        readable_resource(marid, caller, row, "variable", read_scope=False)
        marid.settle(marid.app.delete_variable(variable_id, user.id, origin(request, user.id)))

    @get(
        "/api/n/{user:str}/{path:str}/-/variables",
        sync_to_thread=True,
        summary="A namespace's variables",
        opt={"namespace": "read"},
    )
    def namespace_variables(
        self,
        request: Req,
        marid: NamedDependency[Marid],
        namespace_row: NamedDependency[NamespaceRow],
    ) -> Response[list[VariableOut]]:
        ns = namespace_row
        page, per_page = paging.requested(request)
        rows, at = marid.variables.in_namespace(
            ns.id, request.query_params.get("search"), page, per_page
        )
        base = api_base(request)
        return Response([variable_out(base, r) for r in rows], headers=paging.headers(request, at))
