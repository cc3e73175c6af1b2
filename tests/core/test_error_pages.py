"""403 and 404 pages in the portal's layout, and a refusal logged as one line, not a traceback."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def production_pages(settings):
    settings.DEBUG = False


def test_a_refusal_renders_the_portal_layout_with_a_way_back(client, cast, production_pages):
    client.force_login(cast.member)  # members do not manage credentials

    response = client.get(reverse("credentials:project", args=[cast.project.slug]))

    assert response.status_code == 403
    page = response.content.decode()
    assert 'class="topbar"' in page  # the portal's layout
    assert "Your role in this project does not allow that." in page
    assert f'href="{reverse("projects:list")}"' in page
    assert "Back to your projects" in page


def test_a_missing_page_renders_the_portal_layout_with_a_way_back(client, cast, production_pages):
    client.force_login(cast.member)

    for url in ("/no/such/page/", reverse("jobs:detail", args=[cast.other_project.slug, 1])):
        response = client.get(url)
        assert response.status_code == 404
        page = response.content.decode()
        assert 'class="topbar"' in page
        assert "Page not found" in page
        assert "Back to your projects" in page


def test_a_refusal_is_logged_once_without_a_traceback(client, cast, production_pages, caplog):
    client.force_login(cast.member)
    caplog.set_level(logging.WARNING)

    client.get(reverse("credentials:project", args=[cast.project.slug]))

    refusals = [r for r in caplog.records if getattr(r, "status_code", None) == 403]
    assert len(refusals) == 1
    assert refusals[0].exc_info is None
    assert "Traceback" not in caplog.text


def test_django_log_lines_reach_one_handler():
    django_logger = logging.getLogger("django")
    # Records go up to the root's console; the logger's own handlers only mail admins in production.
    assert django_logger.propagate
    assert all(type(h).__name__ == "AdminEmailHandler" for h in django_logger.handlers)


def test_under_debug_a_views_404_still_gets_the_portal_page(client, cast, settings):
    settings.DEBUG = True
    client.force_login(cast.member)

    response = client.get(reverse("jobs:detail", args=[cast.other_project.slug, 1]))

    assert response.status_code == 404
    assert "Back to your projects" in response.content.decode()


def test_under_debug_an_address_that_matches_no_url_gets_the_portal_page_too(client, cast, settings):
    settings.DEBUG = True  # as under make run
    client.force_login(cast.member)

    response = client.get("/no/such/page/")

    assert response.status_code == 404
    page = response.content.decode()
    assert 'class="topbar"' in page
    assert "Back to your projects" in page
    assert "URLconf" not in page, "Django's technical page lists the URL patterns"


def test_under_debug_a_missing_trailing_slash_is_still_redirected(client, cast, settings):
    settings.DEBUG = True
    client.force_login(cast.member)

    response = client.get(reverse("jobs:list", args=[cast.project.slug]).rstrip("/"))

    assert response.status_code == 301
