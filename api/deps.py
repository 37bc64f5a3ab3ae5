"""Dependencies every controller may ask for."""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import Provide

from api.access import provide_namespace
from api.auth import provide_caller
from infrastructure.bootstrap import Marid


def provide_marid(state: State) -> Marid:
    marid: Marid = state.marid
    return marid


DEPENDENCIES = {
    "marid": Provide(provide_marid, sync_to_thread=False),
    "caller": Provide(provide_caller, sync_to_thread=False),
    "namespace_row": Provide(provide_namespace, sync_to_thread=False),
}
