"""What keeps the web pages safe: cookies, CSRF tokens, flash messages, headers, redirects.

The session cookie holds the session token the application issued at sign-in (stored
there only hashed). CSRF protection is a synchronizer token without server state: a
random `marid_csrf` cookie, and on every form the HMAC of that cookie and the session
token under a key derived from the server's secret key. A forged cross-site form cannot
know it (the cookie is HttpOnly and the key is the server's), and a token read from one
session is worthless in another. Flash messages (a new token's value, shown once) travel
in a cookie sealed with AES-GCM and bound to the session that made them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.datastructures import Cookie

from infrastructure.cipher import AesGcmBox, SecretError

SESSION_COOKIE = "marid_session"
CSRF_COOKIE = "marid_csrf"
FLASH_COOKIE = "marid_flash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
FLASH_SECONDS = 300  # a flash not shown within five minutes is dropped

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",  # pages are per user, and some show a secret once
}

Req = Request[Any, Any, Any]
CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")


class WebKeys:
    """The keys the pages use, derived from the server's secret key, one per purpose."""

    def __init__(self, secret_key: bytes) -> None:
        self.csrf = hmac.new(secret_key, b"marid web csrf", hashlib.sha256).digest()
        self.flash = AesGcmBox(secret_key, purpose=b"marid web flash")

    def csrf_token(self, csrf_cookie: str, session_token: str) -> str:
        message = f"{csrf_cookie}|{session_token}".encode()
        return hmac.new(self.csrf, message, hashlib.sha256).hexdigest()

    def csrf_valid(self, sent: str, csrf_cookie: str, session_token: str) -> bool:
        """Whether `sent` is this browser's token (compared in constant time)."""
        if not sent or not csrf_cookie:
            return False
        expected = self.csrf_token(csrf_cookie, session_token)
        return hmac.compare_digest(sent.encode(), expected.encode())

    def seal_flash(self, messages: list[dict[str, str]], session_token: str) -> str:
        payload = {"m": messages, "s": session_digest(session_token), "t": int(time.time())}
        return self.flash.seal(json.dumps(payload))

    def open_flash(self, sealed: str, session_token: str) -> list[dict[str, str]]:
        """The messages of a flash cookie made for this session lately, else none."""
        try:
            payload = json.loads(self.flash.open(sealed))
        except (SecretError, ValueError):
            return []
        if not isinstance(payload, dict) or payload.get("s") != session_digest(session_token):
            return []
        if not isinstance(payload.get("t"), int) or time.time() - payload["t"] > FLASH_SECONDS:
            return []
        messages = payload.get("m")
        return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def session_digest(session_token: str) -> str:
    return hashlib.sha256(session_token.encode()).hexdigest()[:32]


def new_csrf_cookie_value() -> str:
    return secrets.token_hex(32)


def is_secure(request: Req) -> bool:
    """Whether cookies must be Secure: the request came over https, or the public URL is."""
    api_url = request.app.state.marid.settings.api_url or ""
    return request.url.scheme == "https" or api_url.startswith("https://")


def cookie(request: Req, key: str, value: str, max_age: int | None) -> Cookie:
    """A cookie scripts cannot read, sent on top-level navigation from other sites only
    (SameSite=Lax: the OAuth flow arrives that way), Secure over https."""
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
    )


def expired(request: Req, key: str) -> Cookie:
    return cookie(request, key, "", 0)


def local_path(target: str | None, default: str = "/settings") -> str:
    """`target` when it is a path on this server, else `default`: never an open redirect.

    A local path starts with one `/`; `//host` and `/\\host` are other hosts to a browser,
    and control characters or backslashes have no place in one.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if CONTROL.search(target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
