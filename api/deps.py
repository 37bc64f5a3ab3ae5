"""Dependencies controllers ask for by name: the narrow parts of the wired marid they use.

A handler's signature says what it touches: a query object (`variables`, `builds`, ...,
named after `Marid`'s attributes), a group of use cases typed narrowly (`variable_cases:
VariableCases` is the one application, seen through the methods of that group), `settle`
to wait for the read models, who acts (`actor`, for writes) and what the guards found
(`caller`, `namespace_row`, `resource_row`, `build_row`).

Providers run on every request: each reads one attribute of `state.marid` (no I/O), and
their values are not validated (they are our own objects, some typed by a Protocol).
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol, TypeAlias, TypeVar

from litestar import Request
from litestar.datastructures import State
from litestar.di import Dependency, Provide
from litestar.params import SkipValidationMarker

from api.access import provide_build, provide_namespace, provide_resource
from api.auth import Actor, Caller, provide_caller
from api.render import origin
from application.core import Outcome

T = TypeVar("T")

Injected: TypeAlias = Annotated[T, Dependency(kind="named"), SkipValidationMarker()]
"""A parameter injected by name from `DEPENDENCIES` (or a controller's own)."""


class Settle(Protocol):
    """`Marid.settle`: wait until the read models hold an outcome's events; its value."""

    def __call__(self, outcome: Outcome[T], /) -> T: ...


class SettleCommitted(Protocol):
    """`Marid.settle_committed`: for an outcome that wrote nothing, wait until `read_model`
    holds everything committed so far; its value."""

    def __call__(self, outcome: Outcome[T], read_model: str, /) -> T: ...


def provide_actor(request: Request[Any, Any, Any], caller: Injected[Caller]) -> Actor:
    """The signed-in caller (401 for an anonymous one) acting in this request."""
    user = caller.signed_in()
    return Actor(user.id, origin(request, user.id))


def _attribute(key: str, name: str) -> Provide:
    """A provider of the attribute `name` of the wired marid (one function per key:
    Litestar refuses a provider under two keys)."""

    def provide(state: State) -> Any:
        return getattr(state.marid, name)

    provide.__name__ = f"provide_{key}"
    return Provide(provide, sync_to_thread=False)


# Marid's attributes that handlers use, each provided under its own name.
ATTRIBUTES = (
    "users",
    "namespaces",
    "invites",
    "variables",
    "keys",
    "objects",
    "images",
    "builds",
    "crons",
    "cron_builds",
    "webhooks",
    "blobs",
    "build_logs",
    "build_inputs",
    "namespace_members",
    "webhook_dispatcher",
    "settings",
    "clock",
    "settle",
    "settle_committed",
)
# Groups of use cases (`application.*Cases`): all the one application, each handler typing
# its parameter as the group it uses.
CASES = (
    "namespace_cases",
    "invite_cases",
    "variable_cases",
    "key_cases",
    "object_cases",
    "image_cases",
    "cron_cases",
    "build_cases",
    "webhook_cases",
)

DEPENDENCIES = {
    **{name: _attribute(name, name) for name in ATTRIBUTES},
    **{name: _attribute(name, "app") for name in CASES},
    "caller": Provide(provide_caller, sync_to_thread=False),
    "actor": Provide(provide_actor, sync_to_thread=False),
    "namespace_row": Provide(provide_namespace, sync_to_thread=False),
    "resource_row": Provide(provide_resource, sync_to_thread=False),
    "build_row": Provide(provide_build, sync_to_thread=False),
}
