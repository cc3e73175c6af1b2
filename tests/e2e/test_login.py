from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import watch_csp
from tests.factories import make_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_member_logs_in_and_opens_the_project_overview(page, cast, log_in, screenshot):
    make_job(cast.project, name="sentiment-v1", created_by=cast.member, status="running")

    log_in(cast.member)
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
    screenshot("projects-list")
    page.get_by_role("link", name=cast.project.name).first.click()

    expect(page.get_by_role("heading", name=cast.project.name)).to_be_visible()
    expect(page.get_by_text("sentiment-v1")).to_be_visible()
    expect(page.locator(".stat").filter(has_text="fine-tuning jobs")).to_contain_text("1")
    screenshot("project-overview")


def test_a_wrong_password_is_told_so(page, cast):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(cast.member.username)
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("enter a correct username and password")


def test_the_overview_fits_a_phone(browser, live_server, cast, screenshot):
    from tests.factories import PASSWORD

    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    phone = context.new_page()
    phone_violations = watch_csp(phone)
    phone.goto("/accounts/login/")
    phone.get_by_label("Username").fill(cast.admin.username)
    phone.get_by_label("Password").fill(PASSWORD)
    phone.get_by_role("button", name="Log in").click()
    phone.goto(f"/p/{cast.project.slug}/")
    width = phone.evaluate("document.documentElement.scrollWidth")
    phone.screenshot(path="test-artifacts/project-overview-phone.png", full_page=True)
    context.close()
    assert width <= 390
    assert phone_violations == []


@pytest.mark.axes
def test_a_locked_out_user_is_told_why_and_for_how_long(page, browser, live_server, cast, screenshot):
    for _ in range(5):
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(cast.member.username)
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", name="Sign-in paused")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("15 minutes")
    screenshot("login-locked-out")
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    phone = context.new_page()
    phone_violations = watch_csp(phone)
    phone.goto("/accounts/login/")
    phone.get_by_label("Username").fill(cast.member.username)
    phone.get_by_label("Password").fill("wrong")
    phone.get_by_role("button", name="Log in").click()
    expect(phone.get_by_role("heading", name="Sign-in paused")).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    phone.screenshot(path="test-artifacts/login-locked-out-phone.png", full_page=True)
    context.close()
    assert width <= 390
    assert phone_violations == []


@pytest.mark.parametrize("status", [403, 404])
def test_refused_and_missing_pages_have_the_layout_and_a_way_back(
    page, browser, live_server, cast, log_in, screenshot, status
):
    log_in(cast.member)
    url = (
        f"/credentials/project/{cast.project.slug}/"
        if status == 403
        else f"/p/{cast.other_project.slug}/jobs/1/"
    )
    response = page.goto(url)

    assert response.status == status
    expect(page.locator(".topbar")).to_be_visible()
    page.get_by_role("button", name="Back to your projects").click()
    page.wait_for_url("**/")
    page.goto(url)
    screenshot(f"error-{status}")
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    context.add_cookies(page.context.cookies())
    phone = context.new_page()
    phone_violations = watch_csp(phone)
    phone.goto(url)
    width = phone.evaluate("document.documentElement.scrollWidth")
    phone.screenshot(path=f"test-artifacts/error-{status}-phone.png", full_page=True)
    context.close()
    assert width <= 390
    assert phone_violations == []
