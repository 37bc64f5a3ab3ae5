"""The webhooks projection on its in-memory view: every live webhook, by namespace."""

from __future__ import annotations

from domain.webhooks import Webhook
from projections.memory import in_memory
from projections.webhooks import WebhooksProjection, WebhooksTables
from tests.unit.projection_support import APP, ORIGIN, feed, namespace_deleted


def webhook(public_id: int, namespace_id: int = 3) -> Webhook:
    return Webhook(
        public_id=public_id,
        namespace_id=namespace_id,
        user_id=1,
        author_id=2,
        payload_url="https://example.com/hook",
        ssl=True,
        active=True,
        events=["build_submitted", "build_started"],
        secret="sealed:secret",
        origin=ORIGIN,
    )


def projected() -> tuple[WebhooksProjection, WebhooksTables]:
    view = in_memory(WebhooksTables)
    return WebhooksProjection(view=view), view


def test_created_webhook_keeps_its_secret_sealed_and_its_events_in_order() -> None:
    projection, view = projected()
    hook = webhook(4)

    feed(projection, hook.collect_events())

    assert view.rows("webhooks") == [
        {
            "id": 4,
            "aggregate_id": hook.id,
            "user_id": 1,
            "author_id": 2,
            "namespace_id": 3,
            "payload_url": "https://example.com/hook",
            "ssl": True,
            "active": True,
            "events": ["build_submitted", "build_started"],
            "secret": "sealed:secret",
            "created_at": hook.created_on,
            "updated_at": hook.created_on,
        }
    ]


def test_updated_webhook_takes_the_whole_new_state_once() -> None:
    projection, view = projected()
    hook = webhook(4)
    last = feed(projection, hook.collect_events())
    hook.update("http://example.org/", False, False, ["namespace_updated"], None, ORIGIN)
    [updated] = hook.collect_events()
    hook.update("http://example.net/", True, True, [], None, ORIGIN)
    [later] = hook.collect_events()

    feed(projection, [updated], first=last + 1)
    feed(projection, [later], first=last + 1)  # the same notification id: ignored

    [row] = view.rows("webhooks")
    assert {k: row[k] for k in ("payload_url", "ssl", "active", "events", "secret")} == {
        "payload_url": "http://example.org/",
        "ssl": False,
        "active": False,
        "events": ["namespace_updated"],
        "secret": None,
    }
    assert (row["created_at"], row["updated_at"]) == (hook.created_on, updated.timestamp)
    assert view.max_tracking_id(APP) == last + 1


def test_deleted_webhooks_and_those_of_a_deleted_namespace_go() -> None:
    projection, view = projected()
    gone, in_deleted, kept = webhook(1), webhook(2, namespace_id=7), webhook(3)
    last = feed(projection, [e for h in (gone, in_deleted, kept) for e in h.collect_events()])
    gone.delete(ORIGIN)

    last = feed(projection, gone.collect_events(), first=last + 1)
    feed(projection, namespace_deleted(7), first=last + 1)

    assert [row["id"] for row in view.rows("webhooks")] == [3]
