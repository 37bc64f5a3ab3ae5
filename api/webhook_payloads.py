"""Webhook payloads (reference §16.1), rendered by the API's own renderers so that a
payload's objects are exactly what the API answers for the same things.

The dispatcher (`infrastructure.webhooks`) calls these once the read models have reached
the event; `create_app` and `marid webhooks run` install them. URLs in payloads use
MARID_API_URL (there is no request to take a base URL from), else the configured host
and port.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from api.controllers.crons import cron_out
from api.controllers.images import image_out
from api.controllers.keys import key_out
from api.controllers.objects import object_out
from api.controllers.variables import variable_out
from api.render import namespace_out, user_out
from api.render_builds import build_out
from infrastructure.bootstrap import Marid
from projections.resources import ResourceQueries, ResourceRow

Json = dict[str, Any]


def payload_base(marid: Marid) -> str:
    settings = marid.settings
    return settings.api_url or f"http://{settings.host}:{settings.port}/api"


class WebhookPayloads:
    """Implements `infrastructure.webhooks.Payloads` on a wired marid."""

    def __init__(self, marid: Marid) -> None:
        self.marid = marid
        self.base = payload_base(marid)
        # kind -> (its queries, its renderer); variables render masked values as xxxxxx.
        self.resources: dict[str, tuple[ResourceQueries, Callable[[str, ResourceRow], Any]]] = {
            "cron": (marid.crons, cron_out),
            "image": (marid.images, image_out),
            "object": (marid.objects, object_out),
            "variable": (marid.variables, variable_out),
            "key": (marid.keys, key_out),
        }

    def build(self, build_id: int) -> Json | None:
        """The build object (`build.submitted`, `.started`, `.finished`, `.pinned`, ...)."""
        row = self.marid.builds.get_by_id(build_id)
        return None if row is None else to_json(build_out(self.base, row))

    def tagged(self, build_id: int, user_id: int, names: list[str]) -> Json | None:
        """`build.tagged`: the build, the tagger and the new tags. Djinn sends the build
        object as `url` (a bug); its documentation says the tags URL, sent here."""
        build = self.build(build_id)
        if build is None:
            return None
        return {
            "build": build,
            "user": self.user(user_id),
            "tags": [{"name": name, "url": f"{build['url']}/tags/{name}"} for name in names],
            "url": build["tags_url"],
        }

    def invite(self, namespace_id: int, invitee_id: int, inviter_id: int | None) -> Json:
        """`invite.sent` has the inviter too; `.accepted` and `.rejected` do not."""
        payload: Json = {"namespace": self.namespace(namespace_id)}
        if inviter_id is not None:
            payload["inviter"] = self.user(inviter_id)
        payload["invitee"] = self.user(invitee_id)
        return payload

    def resource(self, kind: str, resource_id: int) -> Json | None:
        """A namespace, cron, image, object, variable or key object."""
        if kind == "namespace":
            return self.namespace(resource_id)
        queries, render = self.resources[kind]
        row = queries.get(resource_id)
        return None if row is None else to_json(render(self.base, row))

    def namespace(self, namespace_id: int) -> Json | None:
        row = self.marid.namespaces.get_by_id(namespace_id)
        return None if row is None else to_json(namespace_out(self.base, row))

    def user(self, user_id: int) -> Json | None:
        row = self.marid.users.user(user_id)
        return None if row is None else to_json(user_out(row))


def to_json(struct: msgspec.Struct) -> Json:
    data: Json = msgspec.to_builtins(struct)
    return data
