"""Webhook shapes. The secret goes in, never out."""

from __future__ import annotations

import msgspec

from api.schemas.namespaces import NamespaceOut


class WebhookIn(msgspec.Struct):
    """Create: absent fields take their defaults (`active` true, every event).
    Update: absent fields keep their values; an empty `payload_url` keeps it too.
    A non-empty `secret` replaces the secret; `remove_secret` removes it.
    """

    payload_url: str | None = None
    secret: str | None = None
    remove_secret: bool | None = None
    ssl: bool | None = None
    active: bool | None = None
    events: list[str] | None = None


class LastResponseOut(msgspec.Struct):
    """The latest delivery attempt: `duration` in nanoseconds, `code` null on failure."""

    code: int | None
    duration: int
    error: str | None
    created_at: str | None


class WebhookOut(msgspec.Struct):
    id: int
    user_id: int
    author_id: int
    namespace_id: int
    payload_url: str
    ssl: bool
    active: bool
    events: list[str]
    url: str
    namespace: NamespaceOut
    last_response: LastResponseOut | None


class DeliveryOut(msgspec.Struct):
    """One delivery of an event to a webhook: `status` is `pending` (being tried, or
    waiting to be tried again), `delivered` or `failed`; `attempts` counts the POSTs so
    far; `last_response` is the latest attempt (null before the first); `redelivery_of`
    is the delivery it repeats (null for the dispatcher's own)."""

    id: int
    webhook_id: int
    event: str
    status: str
    attempts: int
    created_at: str | None
    finished_at: str | None
    redelivery_of: int | None
    last_response: LastResponseOut | None
    url: str
