"""Personal access tokens: `/settings/tokens`. A token's value is shown once, on the page
after it was made or regenerated; only its hash is kept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from litestar import Controller, Request, Response, get, post, route
from litestar.params import FromPath
from litestar.response import Redirect

from api.deps import Injected, Settle
from api.render import found, origin
from api.web.pages import Form, FormBody, Visit, notice, when
from api.web.scope_words import chosen, grid, scope_error
from application.accounts import AccountCases, SignedInUser
from domain.errors import ValidationError
from domain.scopes import Scopes
from infrastructure.tokens import generate_token, hash_token
from projections.rows import TokenRow
from projections.user_queries import UserQueries

Req = Request[Any, Any, Any]
LIST = "/settings/tokens"
ONE = "/settings/tokens/{token_id:int}"
EXPIRIES = [("", "Never"), ("7", "In 7 days"), ("30", "In 30 days"), ("90", "In 90 days")]
EXPIRIES += [("365", "In a year")]
SHOWN_ONCE = "Copy it now: it will not be shown again."


@dataclass(frozen=True)
class TokenView:
    """A token as its list and page show it."""

    id: int
    name: str
    scopes: str
    created: str
    last_used: str | None
    expires: str | None
    expired: bool


def token_view(row: TokenRow, now: datetime) -> TokenView:
    expires_at = row.expires_at
    return TokenView(
        row.id,
        row.name,
        row.scopes,
        when(row.created_at),
        when(row.last_used_at) if row.last_used_at else None,
        when(expires_at) if expires_at else None,
        expires_at is not None and expires_at <= now,
    )


def personal(row: TokenRow | None) -> TokenRow | None:
    """The row if it is a live personal token (not an app's, not revoked)."""
    return row if row is not None and row.app_id is None and not row.revoked else None


def token_fields(form: Form) -> tuple[str, Scopes, dict[str, list[str]]]:
    """The name and scopes a token form asks for, and what is wrong with them."""
    errors: dict[str, list[str]] = {}
    name = form.get("name").strip()
    if not name:
        errors["name"] = ["Name field required"]
    values = form.getall("scope")
    problem = scope_error(values)
    if problem is not None:
        errors["scope"] = [problem]
    return name, Scopes.none() if problem else chosen(values), errors


class TokenController(Controller):
    @get(LIST, sync_to_thread=True, summary="Your personal access tokens")
    def list_tokens(
        self,
        visit: Injected[Visit],
        user: Injected[SignedInUser],
        users: Injected[UserQueries],
        clock: Injected[Callable[[], datetime]],
    ) -> Response[Any]:
        now = clock()
        rows = [row for row in users.tokens(user.id) if personal(row)]
        return visit.render("tokens.html", tokens=[token_view(row, now) for row in rows])

    @get(f"{LIST}/create", sync_to_thread=False, summary="The new token form")
    def create_page(self, visit: Injected[Visit], user: Injected[SignedInUser]) -> Response[Any]:
        return self.create_form(visit, {"name": "", "expires_in": ""}, [], {})

    @staticmethod
    def create_form(
        visit: Visit, values: dict[str, str], checked: list[str], errors: dict[str, list[str]]
    ) -> Response[Any]:
        return visit.render(
            "token_create.html",
            400 if errors else 200,
            values=values,
            checked=checked,
            errors=errors,
            grid=grid(),
            expiries=EXPIRIES,
        )

    @post(LIST, sync_to_thread=True, summary="Create a token")
    def create_token(
        self,
        request: Req,
        visit: Injected[Visit],
        user: Injected[SignedInUser],
        form: Injected[Form],
        accounts: Injected[AccountCases],
        settle: Injected[Settle],
        clock: Injected[Callable[[], datetime]],
    ) -> Response[Any]:
        name, scopes, errors = token_fields(form)
        expires_in = form.get("expires_in")
        if expires_in not in dict(EXPIRIES):
            errors["expires_in"] = ["Expires must be one of the choices offered"]
        values = {"name": name, "expires_in": expires_in}
        # Only a choice offered is turned into a date (any other number may overflow one).
        days = int(expires_in) if expires_in and "expires_in" not in errors else 0
        expires_at = clock() + timedelta(days=days) if days else None
        value = generate_token()
        try:  # rule failures are the form again, all at once
            if errors:
                raise ValidationError(errors)
            outcome = accounts.create_token(
                user.id,
                name,
                hash_token(value),
                scopes,
                expires_at,
                origin(request, user.id),
                unique_name=True,
            )
        except ValidationError as exc:
            return self.create_form(visit, values, form.getall("scope"), {**exc.fields, **errors})
        settle(outcome)
        created = f"Token {name} was created. {SHOWN_ONCE}"
        return visit.redirect(LIST, notice(created, value, "Your new token"))

    @get(ONE, sync_to_thread=True, summary="A token's page")
    def token_page(
        self,
        visit: Injected[Visit],
        user: Injected[SignedInUser],
        users: Injected[UserQueries],
        clock: Injected[Callable[[], datetime]],
        token_id: FromPath[int],
    ) -> Response[Any]:
        row = found(personal(users.token(user.id, token_id)))
        return self.edit_form(visit, row, clock(), {"name": row.name}, row.scopes, {})

    @staticmethod
    def edit_form(
        visit: Visit,
        row: TokenRow,
        now: datetime,
        values: dict[str, str],
        scopes: str,
        errors: dict[str, list[str]],
    ) -> Response[Any]:
        checked = [f"{r}:{p}" for r, p in Scopes.parse(scopes).grants] if scopes else []
        return visit.render(
            "token_edit.html",
            400 if errors else 200,
            token=token_view(row, now),
            values=values,
            checked=checked,
            errors=errors,
            grid=grid(),
        )

    @route(
        ONE,
        http_method=["POST", "PATCH", "DELETE"],
        sync_to_thread=True,
        summary="Change or delete a token",
    )
    def change_token(
        self,
        request: Req,
        visit: Injected[Visit],
        user: Injected[SignedInUser],
        form: Injected[Form],
        data: FormBody,
        accounts: Injected[AccountCases],
        users: Injected[UserQueries],
        settle: Injected[Settle],
        clock: Injected[Callable[[], datetime]],
        token_id: FromPath[int],
    ) -> Response[Any]:
        acting = origin(request, user.id)
        if form.expect("PATCH", "DELETE") == "DELETE":
            settle(accounts.revoke_token(token_id, acting, user_id=user.id))
            return visit.redirect(LIST, notice("The token was deleted."))
        row = found(personal(users.token(user.id, token_id)))
        name, scopes, errors = token_fields(form)
        try:  # rule failures are the form again, all at once
            if errors:
                raise ValidationError(errors)
            settle(accounts.update_token(user.id, token_id, name, scopes, acting))
        except ValidationError as exc:
            fields = {**exc.fields, **errors}
            wanted = " ".join(form.getall("scope")) if "scope" not in fields else row.scopes
            return self.edit_form(visit, row, clock(), {"name": name}, wanted, fields)
        return visit.redirect(LIST, notice(f"Token {name} was saved."))

    @route(
        f"{ONE}/regenerate",
        http_method=["POST", "PATCH"],
        sync_to_thread=True,
        summary="Regenerate a token",
    )
    def regenerate_token(
        self,
        request: Req,
        visit: Injected[Visit],
        user: Injected[SignedInUser],
        form: Injected[Form],
        accounts: Injected[AccountCases],
        settle: Injected[Settle],
        token_id: FromPath[int],
    ) -> Redirect:
        form.expect("PATCH")
        value = generate_token()
        settle(
            accounts.regenerate_token(
                user.id, token_id, hash_token(value), origin(request, user.id)
            )
        )
        message = f"The token has a new value; the old one no longer works. {SHOWN_ONCE}"
        return visit.redirect(LIST, notice(message, value, "Your new token"))
