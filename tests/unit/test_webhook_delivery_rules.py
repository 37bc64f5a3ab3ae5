"""The pure parts of webhook delivery: backoff, signature, headers, body, settings."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from infrastructure.settings import Settings, SettingsError
from infrastructure.webhooks.events import encode
from infrastructure.webhooks.sender import Policy, headers, signature
from infrastructure.webhooks.store import Claimed


def claimed(event: str = "build.finished", webhook_id: int = 7) -> Claimed:
    return Claimed(
        id=1,
        webhook_id=webhook_id,
        event=event,
        body="{}\n",
        attempt=1,
        lease="l",
        payload_url="https://example.com/hook",
        ssl=True,
        secret=None,
    )


def test_backoff_doubles_from_the_base() -> None:
    policy = Policy(max_attempts=5, backoff=10.0)

    assert [policy.retry_in(n) for n in (1, 2, 3, 4)] == [10.0, 20.0, 40.0, 80.0]


def test_signature_is_hex_hmac_sha256_of_the_body_keyed_by_the_secret() -> None:
    body = b'{"a":1}\n'

    expected = hmac.new(b"k3y", body, hashlib.sha256).hexdigest()

    assert signature("k3y", body) == f"sha256={expected}"


def test_headers_are_djinns_and_signed_only_with_a_secret() -> None:
    body = b"{}\n"

    unsigned = headers(claimed(), body, None)
    signed = headers(claimed(), body, "s")

    assert unsigned == {
        "Accept": "*/*",
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Djinn-CI-Hook",
        "X-Djinn-CI-Event": "build.finished",
        "X-Djinn-CI-Hook-ID": "7",
    }
    assert signed == {**unsigned, "X-Djinn-CI-Signature": signature("s", body)}


def test_the_body_is_compact_utf8_json_and_a_newline() -> None:
    payload = {"action": "created", "variable": {"key": "K", "value": "é <&>"}}

    body = encode(payload)

    assert body == '{"action":"created","variable":{"key":"K","value":"é <&>"}}\n'
    assert json.loads(body) == payload


def test_webhook_settings_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "MARID_RUN_WEBHOOKS": "false",
            "MARID_WEBHOOK_MAX_ATTEMPTS": "3",
            "MARID_WEBHOOK_BACKOFF": "0.5",
            "MARID_WEBHOOK_TIMEOUT": "2",
        }
    )

    assert (
        settings.run_webhooks,
        settings.webhook_max_attempts,
        settings.webhook_backoff,
        settings.webhook_timeout,
    ) == (False, 3, 0.5, 2.0)


def test_webhook_settings_have_defaults() -> None:
    settings = Settings.from_env({})

    assert (
        settings.run_webhooks,
        settings.webhook_max_attempts,
        settings.webhook_backoff,
        settings.webhook_timeout,
    ) == (True, 8, 10.0, 30.0)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("MARID_WEBHOOK_MAX_ATTEMPTS", "0"),
        ("MARID_WEBHOOK_MAX_ATTEMPTS", "many"),
        ("MARID_WEBHOOK_BACKOFF", "-1"),
        ("MARID_WEBHOOK_BACKOFF", "soon"),
        ("MARID_WEBHOOK_TIMEOUT", "0"),
        ("MARID_WEBHOOK_TIMEOUT", "nan"),
        ("MARID_WEBHOOK_TIMEOUT", "inf"),
    ],
)
def test_bad_webhook_settings_are_refused_naming_the_variable(key: str, value: str) -> None:
    with pytest.raises(SettingsError, match=key):
        Settings.from_env({key: value})
