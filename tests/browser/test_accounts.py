"""Signing in and out, and personal tokens, in a real browser against a real `marid serve`."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page

from tests.browser.conftest import Served
from tests.browser.support import (
    ALICE,
    BOB,
    TOKEN,
    Screenshots,
    bearer,
    body_text,
    fill_sign_in,
    shown_text,
    sign_in,
    status,
    submit,
)

pytestmark = pytest.mark.e2e

DELETE_FORM = "form:has(input[name=_method][value=delete i])"


def test_a_token_made_in_the_browser_is_shown_once_and_works_on_the_api(
    new_page: Callable[[], Page], served: Served, screenshots: Screenshots
) -> None:
    page = new_page()
    login = page.goto("/login")
    screenshots.take(page, "01-login")
    fill_sign_in(page, ALICE)
    form = page.goto("/settings/tokens/create")
    screenshots.take(page, "02-token-create")
    page.fill("input[name=name]", "laptop")
    page.check("input[name=scope][value='build:read']")
    page.check("input[name=scope][value='namespace:read']")
    submit(page, "form:has(input[name=name])")
    shown = TOKEN.findall(shown_text(page))
    screenshots.take(page, "03-tokens-new-value")
    listed = page.goto("/settings/tokens")
    later = shown_text(page)

    assert status(login) == 200
    assert status(form) == 200
    assert len(shown) == 1, shown_text(page)
    assert status(listed) == 200
    assert "laptop" in later
    assert not TOKEN.search(later)  # the value is shown once
    api = f"{served.url}/api"
    user = httpx.get(f"{api}/user", headers=bearer(shown[0]))
    assert user.status_code == 200, user.text
    assert user.json()["username"] == "alice"
    assert httpx.get(f"{api}/builds", headers=bearer(shown[0])).status_code == 200
    write = httpx.post(f"{api}/namespaces", json={"name": "n"}, headers=bearer(shown[0]))
    assert write.status_code == 403  # the scopes ticked in the form, no more


def test_a_token_regenerated_then_deleted_in_the_browser_stops_working(
    new_page: Callable[[], Page], served: Served
) -> None:
    user_url = f"{served.url}/api/user"
    page = new_page()
    sign_in(page, ALICE)
    page.goto("/settings/tokens/create")
    page.fill("input[name=name]", "throwaway")
    page.check("input[name=scope][value='build:read']")
    submit(page, "form:has(input[name=name])")
    [old] = TOKEN.findall(shown_text(page))
    with page.expect_navigation():
        page.locator("tr:has-text('throwaway') a").first.click()
    submit(page, "form[action$='/regenerate']")
    [new] = TOKEN.findall(shown_text(page))
    old_after_regenerating = httpx.get(user_url, headers=bearer(old))
    new_after_regenerating = httpx.get(user_url, headers=bearer(new))
    page.goto("/settings/tokens")
    with page.expect_navigation():
        page.locator("tr:has-text('throwaway') a").first.click()
    submit(page, DELETE_FORM)
    new_after_deleting = httpx.get(user_url, headers=bearer(new))

    assert new != old
    assert old_after_regenerating.status_code == 401
    assert new_after_regenerating.status_code == 200
    assert new_after_deleting.status_code == 401
    assert "throwaway" not in body_text(page)


def test_signing_in_by_email_and_out_again_ends_the_session(
    new_page: Callable[[], Page], served: Served
) -> None:
    page = new_page()
    page.goto("/login")
    page.fill("input[name=handle]", BOB.email)
    page.fill("input[name=password]", "not-" + BOB.password)
    submit(page, "form:has(input[name=handle])")
    refused = body_text(page)
    fill_sign_in(page, BOB, handle=BOB.email)
    settings = page.goto("/settings/tokens")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    submit(page, "form[action$='/logout']")
    after = page.goto("/settings/tokens")
    replayed = httpx.get(f"{served.url}/settings/tokens", cookies=cookies)

    assert "invalid" in refused.lower(), refused
    assert status(settings) == 200
    assert after is not None
    assert "/login" in after.url
    assert replayed.status_code in (302, 303), replayed.text  # the old cookie is dead


def test_with_registration_open_a_visitor_registers_and_is_signed_in(
    new_page: Callable[[], Page], screenshots: Screenshots
) -> None:
    page = new_page()
    page.goto("/register")
    page.fill("input[name=email]", "carol@example.com")
    page.fill("input[name=username]", "carol")
    page.fill("input[name=password]", "carol-correct-horse")
    page.fill("input[name=verify_password]", "carol-correct-hose")
    submit(page, "form:has(input[name=verify_password])")
    mismatch = body_text(page)
    kept = page.input_value("input[name=email]")
    screenshots.take(page, "10-register-error")
    page.fill("input[name=password]", "carol-correct-horse")
    page.fill("input[name=verify_password]", "carol-correct-horse")
    submit(page, "form:has(input[name=verify_password])")
    welcome = body_text(page)

    assert "match" in mismatch.lower(), mismatch
    assert kept == "carol@example.com"  # the form comes back filled in, but for passwords
    assert page.get_by_role("button", name="Sign out carol").is_visible(), welcome
