"""Signing in and out, registering, and the account settings page."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post, route
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery
from litestar.response import Redirect

from api.deps import Injected
from api.render import origin
from api.web.pages import Form, Visit, anonymous_origin, client_address, notice
from api.web.security import local_path
from application.accounts import AccountCases, SignedInUser, SignInError, SignInThrottledError
from domain.errors import ValidationError
from domain.users import password_errors, validate_registration

Req = Request[Any, Any, Any]
HOME = "/settings"


def required(form: Form, *names: str) -> dict[str, list[str]]:
    """`<Field> field required` for each of `names` left empty."""
    labels = {"handle": "Username or email", "verify_password": "Password again"}
    return {
        name: [f"{labels.get(name, name.replace('_', ' ').capitalize())} field required"]
        for name in names
        if not form.get(name)
    }


def rule_errors(username: str, email: str, password: str) -> dict[str, list[str]]:
    """The registration rules a form breaks, checked before anything is recorded."""
    errors: dict[str, list[str]] = {}
    try:
        validate_registration(username, email)
    except ValidationError as exc:
        errors |= exc.fields
    if problems := password_errors(password):
        errors["password"] = problems
    return errors


def mismatch(form: Form) -> dict[str, list[str]]:
    if form.get("verify_password") and form.get("verify_password") != form.get("password"):
        return {"verify_password": ["Password does not match"]}
    return {}


class SessionController(Controller):
    """`/login`, `/logout`, `/register`, `/settings`."""

    @get("/login", sync_to_thread=False, summary="The sign-in page")
    def login_page(
        self, visit: Injected[Visit], redirect_uri: FromQuery[str | None] = None
    ) -> Response[Any]:
        target = local_path(redirect_uri, HOME)
        if visit.user is not None:
            return visit.redirect(target)
        return self.login_form(visit, target, "", {})

    @staticmethod
    def login_form(
        visit: Visit, target: str, handle: str, errors: dict[str, list[str]], status: int = 200
    ) -> Response[Any]:
        settings = visit.request.app.state.marid.settings
        return visit.render(
            "login.html",
            status,
            redirect_uri=target,
            handle=handle,
            errors=errors,
            registration_open=settings.registration_open,
        )

    @post("/login", sync_to_thread=True, summary="Sign in")
    def login(
        self,
        request: Req,
        visit: Injected[Visit],
        form: Injected[Form],
        accounts: Injected[AccountCases],
    ) -> Response[Any]:
        target = local_path(form.get("redirect_uri"), HOME)
        errors = required(form, "handle", "password")
        if errors:
            return self.login_form(visit, target, form.get("handle"), errors, 400)
        try:  # a refused sign-in is the form again, with why
            signed_in = accounts.sign_in(
                form.get("handle"),
                form.get("password"),
                client_address(request),
                anonymous_origin(request),
            ).value
        except SignInThrottledError as exc:
            page = self.login_form(
                visit, target, form.get("handle"), {"message": [exc.message]}, 429
            )
            page.headers["Retry-After"] = str(exc.retry_after)
            return page
        except SignInError as exc:
            return self.login_form(
                visit, target, form.get("handle"), {"message": [exc.message]}, 400
            )
        if visit.session_token:  # another account was signed in in this browser
            accounts.sign_out(visit.session_token, anonymous_origin(request))
        visit.start_session(signed_in.session_token)
        return visit.redirect(target)

    @post("/logout", sync_to_thread=True, summary="Sign out")
    def logout(
        self,
        request: Req,
        visit: Injected[Visit],
        form: Injected[Form],
        accounts: Injected[AccountCases],
    ) -> Redirect:
        if visit.user is not None:
            accounts.sign_out(visit.session_token, origin(request, visit.user.id))
            visit.end_session()
        return visit.redirect("/login")

    @get("/register", sync_to_thread=False, summary="The registration page")
    def register_page(self, visit: Injected[Visit]) -> Response[Any]:
        refuse_when_closed(visit)
        return visit.render("register.html", values={}, errors={})

    @post("/register", sync_to_thread=True, summary="Register")
    def register(
        self,
        request: Req,
        visit: Injected[Visit],
        form: Injected[Form],
        accounts: Injected[AccountCases],
    ) -> Response[Any]:
        refuse_when_closed(visit)
        values = {"email": form.get("email"), "username": form.get("username")}
        errors = rule_errors(values["username"], values["email"], form.get("password"))
        errors |= required(form, "email", "username", "password", "verify_password")
        errors |= mismatch(form)
        try:  # rule failures are the form again, all at once
            if errors:
                raise ValidationError(errors)
            accounts.register_user(
                form.get("username"),
                form.get("email"),
                anonymous_origin(request),
                password=form.get("password"),
            )
        except ValidationError as exc:
            return visit.render(
                "register.html", 400, values=values, errors={**exc.fields, **errors}
            )
        signed_in = accounts.sign_in(
            form.get("username"),
            form.get("password"),
            client_address(request),
            anonymous_origin(request),
        ).value
        visit.start_session(signed_in.session_token)
        return visit.redirect(HOME, notice(f"Welcome to marid, {form.get('username')}."))

    @get("/settings", sync_to_thread=False, summary="Account settings")
    def settings_page(self, visit: Injected[Visit], user: Injected[SignedInUser]) -> Response[Any]:
        return visit.render("settings.html", errors={})

    @route(
        "/settings/password",
        http_method=["POST", "PATCH"],
        sync_to_thread=True,
        summary="Change password",
    )
    def change_password(
        self,
        request: Req,
        visit: Injected[Visit],
        user: Injected[SignedInUser],
        form: Injected[Form],
        accounts: Injected[AccountCases],
    ) -> Response[Any]:
        form.expect("POST", "PATCH")
        errors = required(form, "current_password", "password", "verify_password") | mismatch(form)
        try:  # rule failures are the form again, all at once
            if errors:
                raise ValidationError(errors)
            accounts.change_password(
                user.id,
                form.get("current_password"),
                form.get("password"),
                origin(request, user.id),
            )
        except ValidationError as exc:
            return visit.render("settings.html", 400, errors={**exc.fields, **errors})
        return visit.redirect(HOME, notice("Your password was changed."))


def refuse_when_closed(visit: Visit) -> None:
    """Registration is a 404 unless MARID_REGISTRATION=open."""
    if not visit.request.app.state.marid.settings.registration_open:
        raise NotFoundException()
