"""Use cases for webhooks: create, change and delete a namespace's webhooks.

Webhooks need write access to their namespace for everything, reading included. Someone
who may see the namespace but not write to it is refused creating one with 422 (after the
field checks, as for other resources), and is told a webhook does not exist (404) when
addressing one: to them a namespace has no webhooks.

A payload URL is unique across every webhook, guarded by a `webhook_url` index aggregate.
A namespace's deletion takes its webhooks with it (CONTRACT "Namespaces and access"): a
webhook whose namespace is gone is dead, and the index claim it left is released by the
next webhook that claims the URL, in the same save.

A payload URL whose host resolves to an address deliveries may not reach (loopback,
private, link-local, ...) is refused when it is set, with a field error, unless the
server allows private addresses: the caller passes the check (`refused`) that resolves
it. An unresolvable host is accepted (it may resolve later), and every delivery checks
the address again, since DNS answers change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict
from urllib.parse import urlsplit

from eventsourcing.domain import Aggregate

from application.core import Outcome, command
from application.namespaces import NamespaceCases
from application.ports import NamespaceMembers
from domain.errors import Errors, NamespacePermissionError, NotFoundError, ValidationError
from domain.index import Index, KeyTakenError
from domain.origin import Origin
from domain.webhooks import (
    URL_TAKEN,
    Webhook,
    event_errors,
    normalise_url,
    payload_url_errors,
    subscribed_events,
)

URL_INDEX = "webhook_url"
URL_REFUSED = "Payload URL resolves to a refused address ({address} is {kind} address)"

# A URL's first refused address and why (`("127.0.0.1", "loopback")`), or None.
AddressCheck = Callable[[str], tuple[str, str] | None]

log = logging.getLogger("marid.webhooks")


def no_address_check(url: str) -> tuple[str, str] | None:
    """Every address allowed (`MARID_ALLOW_PRIVATE_URLS`, and unit tests)."""
    return None


def refused_message(address: str, why: str) -> str:
    article = "an" if why[:1] in "aeiou" else "a"
    return URL_REFUSED.format(address=address, kind=f"{article} {why}")


@dataclass(frozen=True)
class WebhookFields:
    """A request's fields; None means not sent (create: the default, update: keep)."""

    payload_url: str | None = None
    secret: str | None = None
    remove_secret: bool = False
    ssl: bool | None = None
    active: bool | None = None
    events: list[str] | None = None


class WebhookState(TypedDict):
    """A webhook's fields after a request, before they are recorded."""

    payload_url: str
    ssl: bool
    active: bool
    events: list[str]
    secret: str | None


class WebhookCases(NamespaceCases):
    def webhook(self, webhook_id: int) -> Webhook | None:
        """A live webhook: not deleted, and its namespace not deleted either."""
        hook = self.load(Webhook.create_id(webhook_id), Webhook)
        if hook is None or hook.deleted or self.namespace(hook.namespace_id) is None:
            return None
        return hook

    @command
    def create_webhook(
        self,
        namespace_id: int,
        caller_id: int,
        fields: WebhookFields,
        origin: Origin,
        refused: AddressCheck = no_address_check,
    ) -> Outcome[int]:
        """Create a webhook; active by default, all events when none are named."""
        ns = self.live_namespace(namespace_id)
        state = WebhookState(
            payload_url=normalise_url(fields.payload_url or ""),
            ssl=bool(fields.ssl),
            active=True if fields.active is None else fields.active,
            events=subscribed_events(fields.events or []),
            secret=self.secrets.seal(fields.secret) if fields.secret else None,
        )
        writer = self.root_of(ns).can_write(caller_id)
        # Field errors (400) come before the refusal (422), as in Djinn; but a host is
        # looked up (and its address told) only for a caller who may create the webhook.
        check = refused if writer else no_address_check
        self._validate(state, fields.events or [], None, check, namespace_id)
        if not writer:
            raise NamespacePermissionError()
        webhook_id = self.ids.next_id("webhook")
        index = self._claim_url(state["payload_url"], webhook_id, origin)
        hook = Webhook(
            public_id=webhook_id,
            namespace_id=ns.public_id,
            user_id=ns.owner_id,
            author_id=caller_id,
            **state,
            origin=origin,
        )
        return Outcome(webhook_id, self.save(hook, index))

    @command
    def update_webhook(
        self,
        namespace_id: int,
        webhook_id: int,
        caller_id: int,
        fields: WebhookFields,
        origin: Origin,
        refused: AddressCheck = no_address_check,
    ) -> Outcome[int]:
        """Change the fields sent; the others keep their values.

        An empty `payload_url` keeps the current one (Djinn's rule). A non-empty `secret`
        replaces the secret; else `remove_secret` removes it.
        """
        hook = self._writable(namespace_id, webhook_id, caller_id)
        state = self._merged(hook, fields)
        # A URL kept as it was is not checked again: it was when it was set, and
        # deliveries check it each time; refusing it would block changing anything else.
        check = refused if state["payload_url"] != hook.payload_url else no_address_check
        self._validate(state, fields.events or [], webhook_id, check, namespace_id)
        changed: list[Aggregate] = [hook]
        if state["payload_url"] != hook.payload_url:
            changed.append(self._claim_url(state["payload_url"], webhook_id, origin))
            changed += self._release_url(hook.payload_url, webhook_id, origin)
        hook.update(**state, origin=origin)
        return Outcome(webhook_id, self.save(*changed))

    @command
    def delete_webhook(
        self, namespace_id: int, webhook_id: int, caller_id: int, origin: Origin
    ) -> Outcome[None]:
        """Delete a webhook and free its payload URL."""
        hook = self._writable(namespace_id, webhook_id, caller_id)
        hook.delete(origin)
        released = self._release_url(hook.payload_url, webhook_id, origin)
        return Outcome(None, self.save(hook, *released))

    def going_with_namespaces(
        self, namespace_ids: set[int], members: NamespaceMembers, origin: Origin
    ) -> list[Aggregate]:
        """A namespace's webhooks go with it, and release their payload URLs."""
        going = super().going_with_namespaces(namespace_ids, members, origin)
        for webhook_id in members.webhooks(namespace_ids):
            hook = self.webhook(webhook_id)
            if hook is None or hook.namespace_id not in namespace_ids:
                continue  # the read model lagged: it is not there any more
            hook.delete(origin)
            going += [hook, *self._release_url(hook.payload_url, webhook_id, origin)]
        return going

    def _writable(self, namespace_id: int, webhook_id: int, caller_id: int) -> Webhook:
        """The live webhook of this namespace, if the caller may write there; else 404."""
        hook = self.webhook(webhook_id)
        ns = self.namespace(namespace_id)
        if hook is None or ns is None or hook.namespace_id != namespace_id:
            raise NotFoundError("webhook")
        if not self.root_of(ns).can_write(caller_id):
            raise NotFoundError("webhook")
        return hook

    def _merged(self, hook: Webhook, fields: WebhookFields) -> WebhookState:
        if fields.secret:
            secret = self.secrets.seal(fields.secret)
        elif fields.remove_secret:
            secret = None
        else:
            secret = hook.secret
        url = normalise_url(fields.payload_url) if fields.payload_url else hook.payload_url
        return WebhookState(
            payload_url=url,
            ssl=hook.ssl if fields.ssl is None else fields.ssl,
            active=hook.active if fields.active is None else fields.active,
            events=hook.events if fields.events is None else subscribed_events(fields.events),
            secret=secret,
        )

    def _validate(
        self,
        state: WebhookState,
        names: list[str],
        webhook_id: int | None,
        refused: AddressCheck,
        namespace_id: int,
    ) -> None:
        """Raise every failed rule together; a URL is taken only by another live webhook."""
        errors = Errors()
        url = state["payload_url"]
        errors.extend("payload_url", payload_url_errors(url, state["ssl"]))
        if "payload_url" not in errors.fields and self._url_holder(url) not in (None, webhook_id):
            errors.add("payload_url", URL_TAKEN)
        if "payload_url" not in errors.fields and (found := refused(url)) is not None:
            log.warning(
                "webhook %s of namespace %s: payload URL host %s refused: %s is a %s address",
                webhook_id if webhook_id is not None else "(new)",
                namespace_id,
                urlsplit(url).hostname,  # not the URL: it may hold credentials
                *found,
            )
            errors.add("payload_url", refused_message(*found))
        errors.extend("events", event_errors(names))
        errors.raise_if_any()

    def _url_holder(self, url: str) -> int | None:
        """The live webhook holding `url`; a dead one's claim does not count."""
        holder = self.holder(URL_INDEX, url)
        if holder is None or self.webhook(holder) is None:
            return None
        return holder

    def _claim_url(self, url: str, webhook_id: int, origin: Origin) -> Index:
        """Claim `url`, first releasing it from a dead holder; taken is a field error."""
        index = self.find_index(URL_INDEX, url)
        if index is None:
            return Index(kind=URL_INDEX, key=url, holder=webhook_id, origin=origin)
        stale = index.holder
        if stale is not None and stale != webhook_id and self.webhook(stale) is None:
            index.release(stale, origin)
        try:
            index.claim(webhook_id, origin)
        except KeyTakenError:
            raise ValidationError({"payload_url": [URL_TAKEN]}) from None
        return index

    def _release_url(self, url: str, webhook_id: int, origin: Origin) -> list[Aggregate]:
        """The URL's index, released if this webhook holds it (it does, unless taken over)."""
        index = self.find_index(URL_INDEX, url)
        if index is None:
            return []
        index.release(webhook_id, origin)
        return [index]
