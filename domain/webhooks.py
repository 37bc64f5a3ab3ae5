"""The Webhook aggregate: a namespace's subscription of a URL to some of its events.

The rules are Djinn's (its messages, the fixed order of event names) with the fixes
CONTRACT.md asks for: an empty `events` list subscribes to every event. As in Djinn, only
a bare local host (no port) is refused here: a receiver on a loopback port is a test or
development set-up, and whether deliveries may reach loopback, private or link-local
addresses is the server's decision at delivery time (`MARID_ALLOW_PRIVATE_URLS`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import InitVar
from urllib.parse import urlsplit

from domain.aggregates import Assigns, Deletable
from domain.errors import NotFoundError
from domain.origin import Origin

# The fixed order in which `events` are stored and rendered.
EVENT_NAMES = (
    "build.submitted",
    "build.started",
    "build.finished",
    "build.tagged",
    "build.pinned",
    "build.unpinned",
    "invite.sent",
    "invite.accepted",
    "invite.rejected",
    "namespaces",
    "cron",
    "images",
    "objects",
    "variables",
    "ssh_keys",
)

URL_REQUIRED = "Payload URL field required"
URL_TAKEN = "Payload URL already exists"
URL_NO_SCHEME = "Payload URL missing http or https scheme"
URL_NO_HOST = "Payload URL missing host"
URL_LOCALHOST = "Payload URL cannot be localhost"
URL_SSL_ON_HTTP = "Payload URL cannot use SSL for plain http URL"
URL_INVALID = "Payload URL is not a valid URL"

LOCALHOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
SCHEMES = ("http", "https")


def normalise_url(url: str) -> str:
    """The URL as stored and compared for uniqueness: lower-cased whole (Djinn's rule)."""
    return url.lower()


def payload_url_errors(url: str, ssl: bool) -> list[str]:
    """Every rule a (normalised) payload URL breaks, uniqueness aside.

    An empty URL is both missing and schemeless, so it gets both messages, as in Djinn.
    Whitespace and control characters are refused outright: Python's URL parser would
    silently drop some of them, so the URL checked would not be the URL stored.
    """
    if not url.strip():
        return [URL_REQUIRED, URL_NO_SCHEME]
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in url):
        return [URL_INVALID]
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port  # raises ValueError for a port that is not one
    except ValueError:
        return [URL_INVALID]
    errors = []
    if parts.scheme not in SCHEMES:
        errors.append(URL_NO_SCHEME)
    if not host:
        errors.append(URL_NO_HOST)
    elif host.rstrip(".") in LOCALHOSTS and port is None:
        errors.append(URL_LOCALHOST)
    if ssl and parts.scheme == "http":
        errors.append(URL_SSL_ON_HTTP)
    return errors


def event_errors(names: Iterable[str]) -> list[str]:
    """A message for each distinct name that is not an event."""
    return [
        f'Events cannot contain unknown event "{name}"'
        for name in dict.fromkeys(names)
        if name not in EVENT_NAMES
    ]


def subscribed_events(names: Iterable[str]) -> list[str]:
    """The events subscribed to, in the fixed order, once each; none named means all."""
    wanted = set(names)
    return [name for name in EVENT_NAMES if name in wanted] or list(EVENT_NAMES)


class Webhook(Deletable):
    """Where a namespace's events are POSTed; the secret is held sealed, never in clear."""

    KIND = "webhook"

    namespace_id: int
    user_id: int
    author_id: int
    payload_url: str
    ssl: bool
    active: bool
    events: list[str]
    secret: str | None
    origin: InitVar[Origin]

    class Created(Deletable.Created):
        namespace_id: int
        user_id: int
        author_id: int
        payload_url: str
        ssl: bool
        active: bool
        events: list[str]
        secret: str | None
        origin: Origin

    class Updated(Assigns):
        """The complete new state, not a diff: a consumer needs no earlier event."""

        payload_url: str
        ssl: bool
        active: bool
        events: list[str]
        secret: str | None
        origin: Origin

    class Deleted(Deletable.Deleted):
        public_id: int
        namespace_id: int
        origin: Origin

    def __post_init__(self, origin: Origin) -> None:
        self.events = list(self.events)  # not the event's own list

    def update(
        self,
        payload_url: str,
        ssl: bool,
        active: bool,
        events: list[str],
        secret: str | None,
        origin: Origin,
    ) -> None:
        """Record the new state (every field; the caller merged in what it kept)."""
        if self.deleted:
            raise NotFoundError("webhook")
        self.trigger_event(
            self.Updated,
            payload_url=payload_url,
            ssl=ssl,
            active=active,
            events=list(events),
            secret=secret,
            origin=origin,
        )

    def deletion_ids(self) -> dict[str, int]:
        return {"public_id": self.public_id, "namespace_id": self.namespace_id}
