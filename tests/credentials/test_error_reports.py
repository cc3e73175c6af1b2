"""A secret being saved never appears in a traceback page or an error report."""

from __future__ import annotations

import logging
import sys

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.views.debug import ExceptionReporter

from finetune_portal.credentials import services, views

pytestmark = pytest.mark.django_db
SECRET = "sk-live-VERYSECRETKEY-1234567890"


@pytest.fixture
def saving_fails(monkeypatch):
    """Saving a credential breaks half-way (after the secret has passed through the view and service)."""

    def broken(**kwargs):
        raise RuntimeError("the audit log is down")

    monkeypatch.setattr(services, "audit_log", broken)


def test_the_error_report_of_a_failed_save_holds_no_secret(cast, saving_fails, settings):
    settings.DEBUG = False
    request = RequestFactory().post(
        reverse("credentials:project", args=[cast.project.slug]),
        {"kind": "openai", "label": "prod key", "secret": SECRET},
    )
    request.user = cast.admin
    with pytest.raises(RuntimeError):
        views.project_credentials(request, slug=cast.project.slug)
    reporter = ExceptionReporter(request, *sys.exc_info())

    # What the admins' e-mail (AdminEmailHandler) and the debug page are made of.
    assert SECRET not in reporter.get_traceback_text()
    assert SECRET not in reporter.get_traceback_html()
    assert "prod key" in reporter.get_traceback_text()  # the report itself is still there


def test_the_debug_error_page_and_the_logged_report_hold_no_secret(
    client, cast, saving_fails, settings, caplog
):
    settings.DEBUG = True
    client.raise_request_exception = False
    client.force_login(cast.admin)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.post(
            reverse("credentials:project", args=[cast.project.slug]),
            {"kind": "openai", "label": "prod key", "secret": SECRET},
        )

    assert response.status_code == 500
    assert SECRET not in response.content.decode()
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        request = getattr(record, "request", None)
        if record.exc_info and request is not None:
            assert SECRET not in ExceptionReporter(request, *record.exc_info).get_traceback_text()
