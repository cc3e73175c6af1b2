"""People and budgets in a real browser: an invitation from the members page to a first sign-in, and a
launch over the monthly budget that an ML lead approves."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from finetune_portal.core.models import AuditEntry
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.states import JobStatus
from finetune_portal.notifications.models import Notification
from finetune_portal.projects.models import Membership
from tests.e2e.conftest import ARTIFACTS
from tests.factories import PASSWORD
from tests.providers.openai.conftest import (  # noqa: F401 - fixtures used by name
    make_valid_version,
    memory_broker,
    openai_credential,
    standin,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def shots(page, name: str) -> None:
    """A full-page screenshot at desktop width and at 390 px; the page must not scroll sideways on a phone."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    desktop = page.viewport_size
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    page.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(desktop)
    assert width <= PHONE["width"], f"{name} scrolls sideways on a phone ({width}px)"


def sign_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def test_an_admin_invites_maria_who_sets_a_password_and_signs_in(browser, live_server, page, log_in, cast):
    log_in(cast.admin)
    page.goto(f"/p/{cast.project.slug}/members/")
    page.get_by_label("Username").fill("maria")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("There is no user called 'maria'.")).to_be_visible()
    shots(page, "members-unknown-user")

    page.get_by_role("button", name="Invite maria by e-mail").click()
    page.get_by_label("E-mail address").fill("maria@example.com")
    page.get_by_label("Role").select_option("ml_lead")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("An invitation is on its way to maria@example.com.")).to_be_visible()
    expect(page.get_by_role("cell", name="maria@example.com")).to_be_visible()
    shots(page, "invite")

    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+", mail.outbox[0].body).group(0)
    maria_context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    maria = maria_context.new_page()
    maria.goto(link)
    expect(maria.get_by_role("heading", name=f"Join {cast.project.name}")).to_be_visible()
    maria.get_by_label("Username").fill("maria")
    maria.get_by_label("First name").fill("Maria")
    maria.locator("#id_password1").fill("marias-own-passphrase")  # its label also holds the rules
    maria.get_by_label("Password again").fill("marias-own-passphrase")
    shots(maria, "invitation-accept")
    maria.get_by_role("button", name="Create my account").click()
    expect(maria.get_by_text("Your account is ready.")).to_be_visible()

    sign_in(maria, "maria", "marias-own-passphrase")
    expect(maria.get_by_role("link", name=cast.project.name).first).to_be_visible()
    maria.goto("/accounts/profile/")
    expect(maria.get_by_label("First name")).to_have_value("Maria")
    expect(maria.get_by_role("heading", name="API tokens")).to_be_visible()
    shots(maria, "profile")
    maria_context.close()

    assert Membership.objects.get(project=cast.project, user__username="maria").role == "ml_lead"
    page.goto(f"/p/{cast.project.slug}/audit/")
    expect(page.get_by_text("maria (maria@example.com) accepted the invitation as ML lead")).to_be_visible()
    expect(page.get_by_text("ada invited maria@example.com as ML lead")).to_be_visible()
    shots(page, "audit-log")


def test_a_launch_over_the_budget_waits_until_an_ml_lead_approves_it(
    browser,
    live_server,
    page,
    log_in,
    cast,
    standin,  # noqa: F811 - the imported fixture
    openai_credential,  # noqa: F811
    memory_broker,  # noqa: F811
):
    version = make_valid_version(cast.project, examples=12)
    log_in(cast.admin)
    page.goto(f"/p/{cast.project.slug}/")
    page.get_by_text("Change the monthly budget").click()
    page.get_by_label("Monthly budget (USD)").fill("0")
    page.get_by_role("button", name="Save budget").click()
    expect(page.get_by_text("Monthly budget set to $0.00.")).to_be_visible()
    page.context.clear_cookies()

    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/new/?provider=openai")
    page.get_by_label("Training data").select_option(str(version.pk))
    page.get_by_label("Epochs").fill("3")
    page.get_by_label("Job name").fill("Big run")
    page.get_by_role("button", name="Launch").click()
    expect(page.get_by_text("Big run would pass this month's budget")).to_be_visible()
    expect(page.get_by_role("heading", name="Waits for approval")).to_be_visible()
    expect(page.get_by_role("button", name="Approve and launch")).to_have_count(0)
    job = FineTuningJob.objects.get(name="Big run")
    assert job.status == JobStatus.AWAITING_APPROVAL
    assert standin.state.jobs == {}
    # The ML lead and the admin are told (the messages wait for a worker in the queue).
    told = Notification.objects.filter(job=job, event="needs_approval").values_list(
        "recipient__username", flat=True
    )
    assert sorted(told) == sorted([cast.ml_lead.username, cast.admin.username])

    lead_context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    lead = lead_context.new_page()
    sign_in(lead, cast.ml_lead.username)
    lead.goto(f"/p/{cast.project.slug}/jobs/{job.pk}/")
    expect(lead.get_by_role("button", name="Approve and launch")).to_be_visible()
    shots(lead, "job-awaiting-approval")
    lead.get_by_role("button", name="Approve and launch").click()
    expect(lead.get_by_text("Approved: the job is queued.")).to_be_visible()
    lead_context.close()

    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert AuditEntry.objects.filter(action="job.approved", actor=cast.ml_lead).exists()
    page.goto(f"/p/{cast.project.slug}/")
    expect(page.locator(".budget")).to_contain_text("estimated")
    shots(page, "project-budget")


def test_an_admin_tests_a_key_and_sets_the_chat_webhook(page, log_in, cast, standin):  # noqa: F811
    from finetune_portal.credentials.services import credential_create

    credential_create(
        kind="openai",
        secret="sk-standin-0000",
        label="Team key",
        base_url=standin.base_url,
        project=cast.project,
        actor=cast.admin,
    )
    log_in(cast.admin)
    page.goto(f"/credentials/project/{cast.project.slug}/")
    page.get_by_role("button", name="Test key").click()
    expect(page.get_by_text("Team key: The key works at")).to_be_visible()
    shots(page, "credentials-test-key")

    page.goto(f"/p/{cast.project.slug}/notifications/")
    page.get_by_label("Webhook URL").fill("https://hooks.example.com/services/T0/B0/abcdef")
    page.get_by_role("button", name="Save webhook").click()
    expect(page.get_by_text("Webhook saved.")).to_be_visible()
    expect(page.get_by_text("hooks.example.com/…cdef")).to_be_visible()
    shots(page, "project-notifications")
