"""The API index, the server version and the signed-in user."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from litestar import Controller, Request, get

from api.auth import Caller
from api.deps import Injected
from api.render import api_base, user_out
from api.schemas.users import UserOut

INDEX = ("builds", "namespaces", "cron", "invites", "images", "objects", "variables", "keys")


def marid_version() -> str:
    try:
        return version("marid")
    except PackageNotFoundError:
        return "dev"


class RootController(Controller):
    @get("/api", sync_to_thread=False, summary="Index of resource URLs")
    def index(self, request: Request[Any, Any, Any]) -> dict[str, str]:
        base = api_base(request)
        return {f"{name}_url": f"{base}/{name}" for name in INDEX}

    @get("/version", sync_to_thread=False, summary="Server version")
    def server_version(self) -> dict[str, str]:
        return {"build": marid_version()}

    @get("/api/user", sync_to_thread=False, summary="The user the token belongs to")
    def user(self, caller: Injected[Caller]) -> UserOut:
        return user_out(caller.signed_in())
