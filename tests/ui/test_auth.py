"""Login, logout, the guard on every page, and admin pages that do not exist for plain users."""

from __future__ import annotations

from typing import Any

import pytest
from nicegui.testing import User

from helixnet.ui.login import LOGIN_FAILED, MISSING

from .conftest import PASSWORD, log_in

pytestmark = pytest.mark.asyncio

GUARDED = ["/", "/jobs/new", "/jobs/00000000-0000-0000-0000-000000000000", "/artifacts", "/profile",
           "/admin/users", "/admin/jobs", "/admin/monitor"]  # fmt: skip


@pytest.mark.parametrize("path", GUARDED)
async def test_every_page_sends_a_stranger_to_login_and_back(user: User, path: str) -> None:
    response = await user.http_client.get(path, follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == f"/login?redirect_to={path}"


async def test_login_returns_to_the_page_asked_for(user: User, ada: Any) -> None:
    await log_in(user, ada.email, path="/jobs/new?plugin=sleep")
    await user.should_see("New job")
    await user.should_see("Seconds *")
    assert user.back_history[-1] == "/jobs/new?plugin=sleep"


async def test_wrong_password_and_unknown_email_get_the_same_message(user: User, ada: Any) -> None:
    await log_in(user, ada.email, "not the password", wait=False)
    await user.should_see(LOGIN_FAILED)
    user.find("Email").clear().type("nobody@example.org")
    user.find("Password").clear().type(PASSWORD)
    user.find("Log in").click()
    await user.should_see(LOGIN_FAILED)
    await user.should_not_see("Jobs")


async def test_empty_and_impossible_passwords_are_not_guesses(user: User, hx: Any, ada: Any) -> None:
    """Issue 8's rule in the UI too: nothing that no account can have counts towards the lockout."""
    await user.open("/login")
    user.find("Log in").click()
    await user.should_see(MISSING)
    user.find("Email").type(ada.email)
    user.find("Password").type("x" * 73)
    for _ in range(hx.settings.login_max_failures + 2):
        user.find("Log in").click()
        await user.should_see(LOGIN_FAILED)
    user.find("Password").clear().type(PASSWORD)
    user.find("Log in").click()
    await user.should_not_see("Too many failed attempts")
    await user.should_see("Jobs", retries=100)  # the navigation after login runs in the background


async def test_deactivated_user_cannot_log_in_and_is_thrown_out(user: User, hx: Any, ada: Any) -> None:
    await log_in(user, ada.email)
    await user.should_see("No jobs yet.")
    hx.users.set_flags(ada, is_active=False)
    response = await user.http_client.get("/", follow_redirects=False)
    assert response.status_code == 307  # the session's token is revoked with the account
    await log_in(user, ada.email, wait=False)
    await user.should_see(LOGIN_FAILED)


async def test_log_out_ends_the_session(user: User, ada: Any) -> None:
    await log_in(user, ada.email)
    await user.should_see("No jobs yet.")
    user.find("Log out").click()
    await user.should_see("Log in")
    response = await user.http_client.get("/", follow_redirects=False)
    assert response.status_code == 307


async def test_password_change_elsewhere_ends_this_session(user: User, hx: Any, ada: Any) -> None:
    await log_in(user, ada.email)
    await user.should_see("No jobs yet.")
    hx.users.set_password(ada, "a brand new password")
    assert (await user.http_client.get("/", follow_redirects=False)).status_code == 307


async def test_login_refuses_to_redirect_off_site(user: User, ada: Any) -> None:
    await user.open("/login?redirect_to=//evil.example/x")
    user.find("Email").type(ada.email)
    user.find("Password").type(PASSWORD)
    user.find("Log in").click()
    await user.should_see("No jobs yet.")
    assert user.back_history[-1] == "/"


@pytest.mark.parametrize("path", ["/admin/users", "/admin/jobs", "/admin/monitor"])
async def test_admin_pages_do_not_exist_for_plain_users(user: User, ada: Any, path: str) -> None:
    await log_in(user, ada.email)
    await user.should_see("No jobs yet.")
    await user.should_not_see("Users")  # no admin links in the header either
    unknown = await user.http_client.get("/no-such-page")
    answer = await user.http_client.get(path)
    assert answer.status_code == unknown.status_code == 404
    assert "admin" not in answer.text.lower().replace("/admin-pages-are-for-admins-only", "")


async def test_admins_see_the_admin_links(user: User, admin: Any) -> None:
    await log_in(user, admin.email)
    await user.should_see("Users")
    await user.should_see("Monitor")


async def test_theme_follows_the_system_then_cycles_and_is_remembered(user: User, ada: Any) -> None:
    from nicegui import ui

    await log_in(user, ada.email)
    await user.should_see("No jobs yet.")
    [dark] = list(user.find(kind=ui.dark_mode).elements)
    assert dark.value is None  # the system decides
    user.find(marker="theme").click()
    assert dark.value is True
    await user.open("/artifacts")
    [dark] = list(user.find(kind=ui.dark_mode).elements)
    assert dark.value is True  # kept across pages
