"""OAuth apps a user registered (`/settings/apps`) and apps a user connected to their
account (`/settings/connections`). An app's client secret is shown once, on the page after
it was registered or reset."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post, route
from litestar.params import FromPath
from litestar.response import Redirect

from api.deps import Injected, Settle
from api.render import origin
from api.web.pages import Form, FormBody, Visit, notice, when
from api.web.scope_words import described
from application.accounts import SignedInUser
from application.oauth import OAuthCases
from domain.errors import ValidationError
from domain.scopes import Scopes
from projections.user_queries import UserQueries

Req = Request[Any, Any, Any]
LIST = "/settings/apps"
ONE = "/settings/apps/{client_id:str}"
FIELDS = ("name", "description", "homepage_uri", "redirect_uri")
SECRET_ONCE = "Copy the client secret now: it will not be shown again."  # noqa: S105 (words)


def app_values(form: Form) -> dict[str, str]:
    return {name: form.get(name).strip() for name in FIELDS}


def fields(values: dict[str, str]) -> tuple[str, str, str, str]:
    """An app's fields in the order the use cases take them."""
    return values["name"], values["description"], values["homepage_uri"], values["redirect_uri"]


def app_page(
    visit: Visit, app: Any, values: dict[str, str], errors: dict[str, list[str]]
) -> Response[Any]:
    base = str(visit.request.base_url).rstrip("/")
    return visit.render(
        "app.html",
        400 if errors else 200,
        app=app,
        values=values,
        errors=errors,
        authorize_url=f"{base}/login/oauth/authorize",
        token_url=f"{base}/login/oauth/token",
    )


class AppController(Controller):
    @get(LIST, sync_to_thread=True, summary="Your OAuth apps")
    def list_apps(
        self, visit: Injected[Visit], user: Injected[SignedInUser], users: Injected[UserQueries]
    ) -> Response[Any]:
        return visit.render("apps.html", apps=users.apps(user.id))

    @get(f"{LIST}/create", sync_to_thread=False, summary="The new app form")
    def create_page(self, visit: Injected[Visit], user: Injected[SignedInUser]) -> Response[Any]:
        return visit.render("app_create.html", values={}, errors={})

    @post(LIST, sync_to_thread=True, summary="Register an app")
    def register_app(
        self,
        request: Req,
        visit: Injected[Visit],
        user: Injected[SignedInUser],
        form: Injected[Form],
        accounts: Injected[OAuthCases],
        settle: Injected[Settle],
    ) -> Response[Any]:
        values = app_values(form)
        try:  # rule failures are the form again, all at once
            outcome = accounts.register_app(user.id, *fields(values), origin(request, user.id))
        except ValidationError as exc:
            return visit.render("app_create.html", 400, values=values, errors=exc.fields)
        app = settle(outcome)
        registered = notice(
            f"App {values['name']} was registered. {SECRET_ONCE}",
            app.client_secret,
            "Client secret",
        )
        return visit.redirect(f"{LIST}/{app.client_id}", registered)

    @get(ONE, sync_to_thread=True, summary="An app's page")
    def app_page(
        self,
        visit: Injected[Visit],
        user: Injected[SignedInUser],
        accounts: Injected[OAuthCases],
        client_id: FromPath[str],
    ) -> Response[Any]:
        app = accounts.own_app(user.id, client_id)
        return app_page(visit, app, {name: getattr(app, name) for name in FIELDS}, {})

    @route(
        ONE,
        http_method=["POST", "PATCH", "DELETE"],
        sync_to_thread=True,
        summary="Change or delete an app",
    )
    def change_app(
        self,
        request: Req,
        visit: Injected[Visit],
        user: Injected[SignedInUser],
        form: Injected[Form],
        data: FormBody,
        accounts: Injected[OAuthCases],
        settle: Injected[Settle],
        client_id: FromPath[str],
    ) -> Response[Any]:
        acting = origin(request, user.id)
        if form.expect("PATCH", "DELETE") == "DELETE":
            settle(accounts.delete_app(user.id, client_id, acting))
            return visit.redirect(LIST, notice("The app was deleted and its tokens revoked."))
        app = accounts.own_app(user.id, client_id)
        values = app_values(form)
        try:  # rule failures are the form again, all at once
            settle(accounts.update_app(user.id, client_id, *fields(values), acting))
        except ValidationError as exc:
            return app_page(visit, app, values, exc.fields)
        return visit.redirect(f"{LIST}/{client_id}", notice("The app was saved."))

    @route(
        f"{ONE}/reset",
        http_method=["POST", "PATCH"],
        sync_to_thread=True,
        summary="Reset an app's secret",
    )
    def reset_secret(
        self,
        request: Req,
        visit: Injected[Visit],
        user: Injected[SignedInUser],
        form: Injected[Form],
        accounts: Injected[OAuthCases],
        settle: Injected[Settle],
        client_id: FromPath[str],
    ) -> Redirect:
        form.expect("PATCH")
        secret = settle(accounts.reset_app_secret(user.id, client_id, origin(request, user.id)))
        message = f"The app has a new client secret; the old one no longer works. {SECRET_ONCE}"
        return visit.redirect(f"{LIST}/{client_id}", notice(message, secret, "Client secret"))

    @route(
        f"{ONE}/revoke",
        http_method=["POST", "PATCH"],
        sync_to_thread=True,
        summary="Revoke an app's tokens",
    )
    def revoke_tokens(
        self,
        request: Req,
        visit: Injected[Visit],
        user: Injected[SignedInUser],
        form: Injected[Form],
        accounts: Injected[OAuthCases],
        settle: Injected[Settle],
        client_id: FromPath[str],
    ) -> Redirect:
        form.expect("PATCH")
        count = settle(accounts.revoke_app_tokens(user.id, client_id, origin(request, user.id)))
        revoked = "1 token was revoked." if count == 1 else f"{count} tokens were revoked."
        return visit.redirect(f"{LIST}/{client_id}", notice(revoked))


class ConnectionController(Controller):
    @get("/settings/connections", sync_to_thread=True, summary="Apps you connected")
    def list_connections(
        self, visit: Injected[Visit], user: Injected[SignedInUser], users: Injected[UserQueries]
    ) -> Response[Any]:
        connections = [
            {
                "id": row.app_id,
                "app_name": row.name,
                "homepage_uri": row.homepage_uri,
                "created": when(row.granted_at),
                "last_used": when(row.last_used_at) if row.last_used_at else None,
                "scope_words": described(Scopes.parse(row.scopes)) if row.scopes else [],
            }
            for row in users.connections(user.id)
        ]
        return visit.render("connections.html", connections=connections)

    @route(
        "/settings/connections/{app_id:int}",
        http_method=["POST", "DELETE"],
        sync_to_thread=True,
        summary="Revoke an app's access",
    )
    def revoke_connection(
        self,
        request: Req,
        visit: Injected[Visit],
        user: Injected[SignedInUser],
        form: Injected[Form],
        data: FormBody,
        accounts: Injected[OAuthCases],
        settle: Injected[Settle],
        app_id: FromPath[int],
    ) -> Redirect:
        form.expect("DELETE")
        settle(accounts.revoke_connection(user.id, app_id, origin(request, user.id)))
        return visit.redirect("/settings/connections", notice("The app's access was revoked."))
