"""Which marid events become which webhook events (Djinn's names), and the payloads'
shapes: what the dispatcher follows and what it sends."""

from __future__ import annotations

import json
from typing import Any, Protocol

from domain.builds import Build
from domain.crons import Cron
from domain.images import Image
from domain.invites import Invite
from domain.keys import SshKey
from domain.namespaces import Namespace
from domain.objects import Object
from domain.variables import Variable
from domain.webhooks import Webhook

Json = dict[str, Any]


class Payloads(Protocol):
    """Renders what events are about as the API renders it (`api.webhook_payloads`
    implements it). Each returns None when the read model has no such row."""

    def build(self, build_id: int) -> Json | None: ...

    def tagged(self, build_id: int, user_id: int, names: list[str]) -> Json | None: ...

    def invite(self, namespace_id: int, invitee_id: int, inviter_id: int | None) -> Json: ...

    def resource(self, kind: str, resource_id: int) -> Json | None: ...


# Resource kind -> (webhook event name, payload key, read model).
KINDS = {
    "namespace": ("namespaces", "namespace", "namespaces"),
    "cron": ("cron", "cron", "crons"),
    "image": ("images", "image", "images"),
    "object": ("objects", "object", "objects"),
    "variable": ("variables", "variable", "variables"),
    "key": ("ssh_keys", "key", "keys"),
}

# Event class -> (kind, action); action None only refreshes the kept rendering.
RESOURCE_EVENTS: dict[type[Any], tuple[str, str | None]] = {
    Namespace.Created: ("namespace", "created"),
    Namespace.DescriptionChanged: ("namespace", "updated"),
    Namespace.VisibilityChanged: ("namespace", "updated"),
    Cron.Created: ("cron", "created"),
    Cron.Updated: ("cron", "updated"),
    Cron.Fired: ("cron", None),
    Cron.FiringFailed: ("cron", None),
    Cron.Deleted: ("cron", "deleted"),
    Image.Created: ("image", "created"),
    Image.DownloadFinished: ("image", "downloaded"),
    Image.DownloadFailed: ("image", "downloaded"),  # Djinn tells a failed download too
    Image.Deleted: ("image", "deleted"),
    Object.Created: ("object", "created"),
    Object.Deleted: ("object", "deleted"),
    Variable.Created: ("variable", "created"),
    Variable.Deleted: ("variable", "deleted"),
    SshKey.Created: ("key", "created"),
    SshKey.Updated: ("key", "updated"),
    SshKey.Deleted: ("key", "deleted"),
}

# Build event class -> webhook event name (Killed: a queued build ended without running).
BUILD_EVENTS: dict[type[Any], str] = {
    Build.Pinned: "build.pinned",
    Build.Unpinned: "build.unpinned",
    Build.Claimed: "build.started",
    Build.Finished: "build.finished",
    Build.Killed: "build.finished",
}

NAMESPACE_UPDATES = (Namespace.DescriptionChanged, Namespace.VisibilityChanged)

FOLLOWED: tuple[type[Any], ...] = (
    *RESOURCE_EVENTS,
    *BUILD_EVENTS,
    Webhook.Created,
    Webhook.Updated,
    Webhook.Deleted,
    Namespace.Deleted,
    Build.Submitted,
    Build.Tagged,
    Invite.Sent,
    Invite.Accepted,
    Invite.Rejected,
)


def encode(payload: Json) -> str:
    """The request body: compact JSON and a newline, as Djinn's encoder writes it."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n"


def hook_fields(event: Webhook.Created | Webhook.Updated) -> Json:
    return {
        "payload_url": event.payload_url,
        "ssl": event.ssl,
        "active": event.active,
        "events": list(event.events),
        "secret": event.secret,
    }
