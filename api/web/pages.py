"""What every page handler shares: who is visiting, rendering, forms and redirects.

A handler asks for `visit` (the browser's session, CSRF cookie and pending flash), `user`
(the signed-in user: anyone else is sent to the sign-in page and back) and, on writes,
`form` (the submitted fields, once the CSRF token was checked).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Request
from litestar.datastructures import Cookie, FormMultiDict, State
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import MethodNotAllowedException, PermissionDeniedException
from litestar.params import Body
from litestar.response import Redirect, Template

from api.deps import Injected
from api.web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    FLASH_COOKIE,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    WebKeys,
    cookie,
    expired,
    new_csrf_cookie_value,
)
from application.accounts import SignedInUser
from domain.errors import ValidationError
from domain.origin import Origin

Req = Request[Any, Any, Any]
NUL = "\x00"

FormBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
"""A form body, declared by handlers that accept DELETE (the API's screening refuses any
other body than JSON on a DELETE that declares none)."""

CSRF_FAILED = (
    "This form has expired or did not come from this site. "
    "Go back, reload the page and submit it again."
)


class CsrfError(PermissionDeniedException):
    """Raised when a form's CSRF token is missing or is not this browser's."""


class SignInRequiredError(Exception):
    """Raised when a page needs a signed-in user; the visitor is sent to sign in first."""

    def __init__(self, back_to: str, cookies: list[Cookie]) -> None:
        super().__init__(back_to)
        self.back_to = back_to
        self.cookies = cookies  # the visit's: a stale session cookie is cleared


@functools.lru_cache(maxsize=4)
def keys_for(secret_key: bytes) -> WebKeys:
    return WebKeys(secret_key)


@dataclass
class Visit:
    """One browser's request: its session, CSRF cookie, and messages to show once."""

    request: Req
    keys: WebKeys
    session_token: str
    user: SignedInUser | None
    csrf_cookie: str
    cookies: list[Cookie] = field(default_factory=list)
    flashes: list[dict[str, str]] = field(default_factory=list)

    @property
    def csrf_token(self) -> str:
        return self.keys.csrf_token(self.csrf_cookie, self.session_token)

    def render(self, template: str, status: int = 200, **context: Any) -> Template:
        """The page `template`, with the visitor, the CSRF token and pending messages."""
        context.update(user=self.user, csrf_token=self.csrf_token, flashes=self.flashes)
        return Template(
            template_name=template,
            context=context,
            status_code=status,
            cookies=self.cookies,
            headers=SECURITY_HEADERS,
        )

    def redirect(self, path: str, *flashes: dict[str, str]) -> Redirect:
        """303 to a local `path`, showing `flashes` on the next page of this session."""
        cookies = list(self.cookies)
        if flashes:
            sealed = self.keys.seal_flash(list(flashes), self.session_token)
            cookies.append(cookie(self.request, FLASH_COOKIE, sealed, None))
        return Redirect(path, status_code=303, cookies=cookies, headers=SECURITY_HEADERS)

    def start_session(self, session_token: str) -> None:
        """From now on (this response on), the browser is signed in with `session_token`."""
        self.session_token = session_token
        lifetime = self.request.app.state.marid.settings.session_lifetime
        self.cookies.append(
            cookie(self.request, SESSION_COOKIE, session_token, int(lifetime.total_seconds()))
        )

    def end_session(self) -> None:
        self.session_token = ""
        self.user = None
        self.cookies.append(expired(self.request, SESSION_COOKIE))


def notice(text: str, value: str = "", label: str = "") -> dict[str, str]:
    """A message for the next page; `value` is a secret shown once beside `label`."""
    return {"text": text, "value": value, "label": label}


def provide_visit(request: Req) -> Visit:
    """The visit: the session's user (a database lookup), the CSRF cookie (made when
    missing) and the flash messages (read once, then cleared)."""
    marid = request.app.state.marid
    keys = keys_for(marid.secret_key)
    session_token = request.cookies.get(SESSION_COOKIE, "")
    user = marid.app.session_user(session_token) if session_token else None
    visit = Visit(request, keys, session_token if user else "", user, "")
    if session_token and user is None:
        visit.cookies.append(expired(request, SESSION_COOKIE))  # ended or expired
    visit.csrf_cookie = request.cookies.get(CSRF_COOKIE, "")
    if not visit.csrf_cookie:
        visit.csrf_cookie = new_csrf_cookie_value()
        lifetime = int(marid.settings.session_lifetime.total_seconds())
        visit.cookies.append(cookie(request, CSRF_COOKIE, visit.csrf_cookie, lifetime))
    sealed = request.cookies.get(FLASH_COOKIE)
    if sealed and request.method == "GET":
        visit.flashes = keys.open_flash(sealed, visit.session_token)
        visit.cookies.append(expired(request, FLASH_COOKIE))
    return visit


def provide_user(request: Req, visit: Injected[Visit]) -> SignedInUser:
    """The signed-in user; anyone else is sent to sign in, and back here after."""
    if visit.user is None:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequiredError(back if request.method == "GET" else "/settings", visit.cookies)
    return visit.user


class Form:
    """A submitted form's fields (CSRF checked, free of NUL characters)."""

    def __init__(self, fields: FormMultiDict, method: str) -> None:
        self.fields = fields
        self.method = method

    def get(self, name: str) -> str:
        value = self.fields.get(name, "")
        return value if isinstance(value, str) else ""

    def getall(self, name: str) -> list[str]:
        return [v for v in self.fields.getall(name, []) if isinstance(v, str)]

    def expect(self, *methods: str) -> str:
        """The method the form stands for (its `_method`), if one of `methods`; else 405."""
        if self.method not in methods:
            raise MethodNotAllowedException()
        return self.method


async def provide_form(request: Req, visit: Injected[Visit]) -> Form:
    """The form, if its CSRF token (field `csrf_token`, or the `X-CSRF-Token` header for a
    PATCH or DELETE sent without a form) is this browser's; else 403.

    A POST may carry `_method=PATCH|DELETE`, as HTML forms send no other method.
    """
    fields = await request.form()
    sent = fields.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
    # Bound to the session cookie as sent: a form made before the session ended still
    # passes here, and its sender is then asked to sign in again.
    csrf_cookie = request.cookies.get(CSRF_COOKIE, "")
    session_cookie = request.cookies.get(SESSION_COOKIE, "")
    if not isinstance(sent, str) or not visit.keys.csrf_valid(sent, csrf_cookie, session_cookie):
        raise CsrfError(CSRF_FAILED)
    bad = sorted({k for k, v in fields.multi_items() if NUL in k or NUL in str(v)})
    if bad:
        raise ValidationError({k: ["Cannot contain NUL characters"] for k in bad})
    method: str = request.method
    override = fields.get("_method")
    if method == "POST" and isinstance(override, str) and override:
        method = override.upper()
    return Form(fields, method)


def client_address(request: Req) -> str:
    """The peer's address: the sign-in throttle counts failures per address."""
    return request.client.host if request.client else "unknown"


def anonymous_origin(request: Req) -> Origin:
    """The origin of what a visitor not signed in does (sign in, register)."""
    return Origin("system:web", request.scope.get("state", {}).get("request_id"))


def provide_app(state: State) -> Any:
    """The application (its account and OAuth use cases)."""
    return state.marid.app


WEB_DEPENDENCIES = {
    "accounts": Provide(provide_app, sync_to_thread=False),
    "visit": Provide(provide_visit, sync_to_thread=True),
    "user": Provide(provide_user, sync_to_thread=False),
    "form": Provide(provide_form),
}


def when(moment: datetime) -> str:
    """A time as the pages show it: `2026-12-07 08:44 UTC`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
