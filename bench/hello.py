"""The ceiling of marid's HTTP stack: a Litestar hello-world on the same uvicorn, with the
same server settings as `marid serve`, answering marid's own bodies from memory.

At start it asks a running marid, once, for page 1 of `GET /api/namespaces`, for
`GET /api/user`, and for the answer to one `POST /api/namespaces` (it creates a namespace
named `hello<run id>` to get it); then it serves those exact bytes, content type and paging
headers, with no database and no authentication. Its `POST /api/namespaces` decodes the
JSON body, as any create must, and answers 201 with marid's create body.

    python bench/hello.py --marid-url URL --token TOKEN [--port 8001]
"""

from __future__ import annotations

import argparse
import secrets
import sys
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from litestar import Litestar, Response, get, post

from infrastructure import logs
from infrastructure.settings import Settings
from ops.server import server_config

LOG_LEVEL = "WARNING"  # as ceilings.py runs `marid serve`
KEPT_HEADERS = ("link", "x-total-count", "location")


@dataclass(frozen=True)
class Canned:
    """One of marid's answers, to be given again as it was."""

    status: int
    body: bytes
    media_type: str
    headers: dict[str, str]

    @classmethod
    def of(cls, response: httpx.Response, expected: int) -> Canned:
        if response.status_code != expected:
            raise SystemExit(
                f"hello: {response.request.method} {response.request.url} answered "
                f"{response.status_code}, not {expected}: {response.text[:200]}"
            )
        kept = {k: v for k, v in response.headers.items() if k.lower() in KEPT_HEADERS}
        return cls(
            response.status_code,
            response.content,
            response.headers.get("content-type", "application/json"),
            kept,
        )

    def response(self) -> Response[bytes]:
        return Response(
            self.body, status_code=self.status, media_type=self.media_type, headers=self.headers
        )


def fetch(marid_url: str, token: str) -> dict[str, Canned]:
    """marid's answers, by route: the create first, so that page 1 is as marid has it now."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=marid_url, headers=headers, timeout=30.0) as client:
        name = f"hello{secrets.token_hex(3)}"
        created = Canned.of(client.post("/api/namespaces", json={"name": name}), 201)
        return {
            "create": created,
            "list": Canned.of(client.get("/api/namespaces", params={"page": 1}), 200),
            "user": Canned.of(client.get("/api/user"), 200),
        }


def create_app(canned: dict[str, Canned]) -> Litestar:
    """Async handlers (no thread pool): the framework's own ceiling."""

    @get("/api/namespaces")
    async def list_namespaces() -> Response[bytes]:
        return canned["list"].response()

    @post("/api/namespaces")
    async def create_namespace(data: dict[str, Any]) -> Response[bytes]:
        return canned["create"].response()

    @get("/api/user")
    async def user() -> Response[bytes]:
        return canned["user"].response()

    return Litestar(
        route_handlers=[list_namespaces, create_namespace, user],
        debug=False,
        logging_config=None,  # as marid: the process's one log format
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--marid-url", required=True, help="the running marid to copy")
    parser.add_argument("--token", required=True, help="a token with namespace:write")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    canned = fetch(args.marid_url.rstrip("/"), args.token)
    logs.configure(LOG_LEVEL, "human")
    # `marid serve`'s server (ops/server.py: its protocol with read timeouts, connection
    # cap and proxy settings), serving this app instead.
    settings = Settings(log_level=LOG_LEVEL)
    uvicorn.Server(server_config(create_app(canned), settings, args.host, args.port)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
