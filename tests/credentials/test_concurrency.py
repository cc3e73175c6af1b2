"""Saving a project's credential from several requests at once: one locked operation, no error page."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from finetune_portal.credentials.models import ProviderCredential
from finetune_portal.credentials.services import credential_create

pytestmark = pytest.mark.django_db(transaction=True)
SAVES = 6


def _at_once(work, count: int = SAVES) -> list:
    """Run ``work(i)`` in ``count`` threads released together; each thread's result or exception."""
    start = threading.Barrier(count)
    results: list = [None] * count

    def run(i: int) -> None:
        try:
            start.wait()
            results[i] = work(i)
        except Exception as exc:  # reported to the test, not lost in the thread
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.mark.parametrize("scope", ["project", "site"])
def test_concurrent_saves_leave_one_active_credential(cast, scope):
    project = cast.project if scope == "project" else None
    credential_create(
        kind="openai", secret="sk-first-00000000", label="first", project=project, actor=cast.admin
    )

    results = _at_once(
        lambda i: credential_create(
            kind="openai",
            secret=f"sk-concurrent-{i:08d}",
            label=f"save {i}",
            project=project,
            actor=cast.admin,
        )
    )

    assert [r for r in results if isinstance(r, Exception)] == []
    active = ProviderCredential.objects.active().filter(kind="openai", project=project)
    assert active.count() == 1
    assert ProviderCredential.objects.filter(kind="openai", project=project).count() == SAVES + 1


def test_concurrent_saves_through_the_page_answer_without_an_error_page(cast):
    url = reverse("credentials:project", args=[cast.project.slug])

    def save(i: int) -> int:
        client = Client()
        client.force_login(cast.admin)
        data = {"kind": "openai", "label": f"key {i}", "secret": f"sk-page-save-{i:08d}"}
        return client.post(url, data).status_code

    statuses = _at_once(save)

    assert statuses == [302] * SAVES
    assert ProviderCredential.objects.active().filter(kind="openai", project=cast.project).count() == 1
