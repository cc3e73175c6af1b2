from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from finetune_portal.notifications.models import DeliveryStatus, Notification, ProjectWebhook
from finetune_portal.notifications.services import (
    notification_send,
    notifications_waiting,
    project_webhook_set,
)
from finetune_portal.notifications.webhook import DeliveryFailed, webhook_post, webhook_url_problem
from tests.factories import PASSWORD, make_job
from tests.notifications.test_notifications import Hook


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/admin/",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_addresses_on_this_machine_or_link_local_are_refused(url):
    assert "internal address" in webhook_url_problem(url, resolve=False)


@pytest.mark.parametrize("url", ["https://hooks.slack.com/services/T/B/x", "http://10.1.2.3/hooks/abc"])
def test_public_hosts_and_private_chat_servers_are_allowed(url):
    assert webhook_url_problem(url, resolve=False) is None


def test_a_name_that_resolves_to_an_internal_address_is_refused_when_sending(monkeypatch):
    def resolver(host, port, *args, **kwargs):  # DNS is the edge here: a name pointing at cloud metadata
        answers = {"hooks.example.com": "93.184.216.34", "metadata.example.com": "169.254.169.254"}
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    url = "https://metadata.example.com/latest/"
    assert webhook_url_problem(url, resolve=False) is None  # only the look-up tells
    assert "internal address" in webhook_url_problem(url, resolve=True)
    assert webhook_url_problem("https://hooks.example.com/T/B/x", resolve=True) is None


@pytest.mark.django_db
def test_the_form_refuses_an_internal_webhook_in_words(client, cast):
    client.login(username=cast.admin.username, password=PASSWORD)
    response = client.post(
        reverse("notifications:project", args=[cast.project.slug]), {"url": "http://169.254.169.254/x"}
    )
    assert response.status_code == 200
    assert "internal address" in response.content.decode()
    assert not ProjectWebhook.objects.filter(project=cast.project).exists()


@pytest.mark.django_db
def test_a_stored_internal_webhook_is_not_posted_to(cast):
    # Saved before the check existed, or through the service directly.
    project_webhook_set(project=cast.project, url="http://127.0.0.1:1/hook", actor=cast.admin)
    with pytest.raises(DeliveryFailed, match="internal address"):
        webhook_post(project_id=cast.project.pk, text="hello")


@pytest.mark.django_db
def test_a_redirect_from_the_webhook_is_not_followed(cast, settings):
    settings.NOTIFICATION_WEBHOOK_ALLOW_LOOPBACK = True
    hook = Hook()
    try:
        hook.status, hook.location = 307, "http://169.254.169.254/latest/meta-data/"
        project_webhook_set(project=cast.project, url=hook.url, actor=cast.admin)
        with pytest.raises(DeliveryFailed, match="redirect"):
            webhook_post(project_id=cast.project.pk, text="hello")
        assert len(hook.bodies) == 1
    finally:
        hook.close()


@pytest.mark.django_db
def test_a_notification_left_sending_by_a_dead_worker_is_sent_later(cast, mailoutbox, settings):
    settings.NOTIFICATION_SENDING_STALE_SECONDS = 600
    job = make_job(cast.project, created_by=cast.member, status="failed")
    row = Notification.objects.create(
        job=job,
        event="failed",
        channel="email",
        recipient=cast.member,
        recipient_key=f"user:{cast.member.pk}",
    )
    Notification.objects.filter(pk=row.pk).update(status=DeliveryStatus.SENDING, attempts=1)

    # Recently claimed: another worker may be sending it right now.
    assert notifications_waiting(older_than=timedelta(minutes=10)) == []
    assert notification_send(notification_id=row.pk) == "skipped"

    Notification.objects.filter(pk=row.pk).update(updated_at=timezone.now() - timedelta(minutes=11))
    assert notifications_waiting(older_than=timedelta(minutes=10)) == [row.pk]
    assert notification_send(notification_id=row.pk) == "sent"
    assert len(mailoutbox) == 1
    assert Notification.objects.get(pk=row.pk).attempts == 2
