from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.urls import reverse

from finetune_portal.accounts.services import notification_settings_set
from finetune_portal.celery import app as celery_app
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.services import job_cancel, job_transition
from finetune_portal.jobs.signals import job_status_changed
from finetune_portal.jobs.states import JobStatus
from finetune_portal.notifications.models import DeliveryStatus, Notification
from finetune_portal.notifications.services import notification_send, project_webhook_set
from finetune_portal.notifications.tasks import notification_send_task
from tests.celery_support import broker_for_test, wait_for
from tests.factories import PASSWORD, make_job


class Hook:
    """A chat webhook on loopback: records what it is sent, answers with ``status``."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.status = 200
        self.location = ""  # answer with a redirect there
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                hook.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(hook.status)
                if hook.location:
                    self.send_header("Location", hook.location)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/secret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook(settings):
    settings.NOTIFICATION_WEBHOOK_ALLOW_LOOPBACK = True  # the stand-in chat server listens on loopback
    server = Hook()
    yield server
    server.close()


@pytest.fixture
def sent_tasks(monkeypatch):
    """The tasks handed to the broker; the tests run them as a worker would."""
    ids: list[int] = []
    monkeypatch.setattr(notification_send_task, "delay", lambda pk: ids.append(pk))
    return ids


def _deliver_all(ids):
    for pk in ids:
        notification_send(notification_id=pk)


def _finish(job, status, actor=None, capture=None, **updates):
    with capture(execute=True):
        job_transition(job=job, to=status, actor=actor, **updates)


@pytest.mark.django_db
def test_whoever_launched_a_job_is_told_once_when_it_succeeds(
    cast, sent_tasks, django_capture_on_commit_callbacks
):
    job = make_job(cast.project, name="sentiment-v2", created_by=cast.member, status="running")
    _finish(job, JobStatus.SUCCEEDED, capture=django_capture_on_commit_callbacks)

    _deliver_all(sent_tasks)
    _deliver_all(sent_tasks)  # a redelivered task (worker restart) sends nothing more

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [cast.member.email]
    assert message.subject == "[Bank reviews] sentiment-v2 succeeded"
    assert f"/p/{cast.project.slug}/jobs/{job.pk}/" in message.body
    assert Notification.objects.get().status == DeliveryStatus.SENT


@pytest.mark.django_db
def test_the_same_event_reported_twice_makes_one_notification(
    cast, sent_tasks, django_capture_on_commit_callbacks
):
    job = make_job(cast.project, created_by=cast.member, status="failed", error_message="Out of memory")

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            job_status_changed.send(
                sender=FineTuningJob, job_id=job.pk, from_status="running", to_status="failed", actor_id=None
            )
    _deliver_all(sent_tasks)

    assert len(sent_tasks) == 1
    assert len(mail.outbox) == 1
    assert "failed: Out of memory" in mail.outbox[0].body


@pytest.mark.django_db
def test_a_cancel_by_someone_else_is_told_and_ones_own_is_not(
    cast, sent_tasks, django_capture_on_commit_callbacks
):
    mine = make_job(cast.project, created_by=cast.member, status="queued")
    theirs = make_job(cast.project, created_by=cast.member, status="queued")
    with django_capture_on_commit_callbacks(execute=True):
        job_cancel(job=mine, actor=cast.member)
        job_cancel(job=theirs, actor=cast.ml_lead)
    _deliver_all(sent_tasks)

    assert [m.subject for m in mail.outbox] == [f"[Bank reviews] {theirs.display_name} was cancelled"]
    assert "by lee" in mail.outbox[0].body


@pytest.mark.django_db
def test_a_cancel_confirmed_later_by_the_worker_names_who_asked(
    cast, sent_tasks, django_capture_on_commit_callbacks
):
    job = make_job(cast.project, created_by=cast.member, status="running")
    with django_capture_on_commit_callbacks(execute=True):
        job_transition(job=job, to=JobStatus.CANCELLING, actor=cast.ml_lead, reason="Cancel requested")
        job_transition(job=job, to=JobStatus.CANCELLED, reason="The provider cancelled it")
    _deliver_all(sent_tasks)

    assert len(mail.outbox) == 1
    assert "Cancel requested by lee" in mail.outbox[0].body


@pytest.mark.django_db
def test_leads_and_admins_are_told_a_job_needs_approval(cast, sent_tasks, django_capture_on_commit_callbacks):
    job = make_job(cast.project, created_by=cast.member, status="draft")
    _finish(job, JobStatus.AWAITING_APPROVAL, actor=cast.member, capture=django_capture_on_commit_callbacks)
    _deliver_all(sent_tasks)

    assert sorted(m.to[0] for m in mail.outbox) == [cast.admin.email, cast.ml_lead.email]
    assert all("needs approval" in m.subject for m in mail.outbox)


@pytest.mark.django_db
def test_a_person_who_opted_out_gets_nothing(cast, sent_tasks, django_capture_on_commit_callbacks):
    notification_settings_set(user=cast.member, job_succeeded=False)
    job = make_job(cast.project, created_by=cast.member, status="running")
    _finish(job, JobStatus.SUCCEEDED, capture=django_capture_on_commit_callbacks)
    _deliver_all(sent_tasks)

    assert mail.outbox == []


@pytest.mark.django_db
def test_imported_history_notifies_nobody(cast, sent_tasks, django_capture_on_commit_callbacks):
    job = make_job(cast.project, created_by=cast.member, status="running", imported=True)
    _finish(job, JobStatus.SUCCEEDED, capture=django_capture_on_commit_callbacks)
    assert sent_tasks == []


@pytest.mark.django_db
def test_the_project_webhook_gets_slack_compatible_json(
    cast, hook, sent_tasks, django_capture_on_commit_callbacks
):
    project_webhook_set(project=cast.project, url=hook.url, actor=cast.admin)
    job = make_job(cast.project, name="sentiment-v2", created_by=cast.member, status="running")
    _finish(job, JobStatus.FAILED, capture=django_capture_on_commit_callbacks, error_message="Bad data")
    _deliver_all(sent_tasks)

    assert len(hook.bodies) == 1
    assert set(hook.bodies[0]) == {"text"}
    assert "[Bank reviews] sentiment-v2 failed" in hook.bodies[0]["text"]
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_failing_webhook_is_tried_again_and_then_given_up(
    cast, hook, sent_tasks, django_capture_on_commit_callbacks
):
    notification_settings_set(user=cast.member, job_succeeded=False)
    project_webhook_set(project=cast.project, url=hook.url, actor=cast.admin)
    hook.status = 500
    job = make_job(cast.project, created_by=cast.member, status="running")
    _finish(job, JobStatus.SUCCEEDED, capture=django_capture_on_commit_callbacks)
    [pk] = sent_tasks

    assert notification_send(notification_id=pk) == "retry"
    row = Notification.objects.get(pk=pk)
    assert (row.status, row.last_error) == (DeliveryStatus.PENDING, "The webhook answered HTTP 500.")
    hook.status = 200
    assert notification_send(notification_id=pk) == "sent"
    assert Notification.objects.get(pk=pk).attempts == 2


@pytest.mark.django_db
def test_an_unreachable_webhook_fails_in_words(cast, settings):
    settings.NOTIFICATION_WEBHOOK_ALLOW_LOOPBACK = True
    project_webhook_set(project=cast.project, url="http://127.0.0.1:1/hook", actor=cast.admin)
    job = make_job(cast.project, created_by=cast.member, status="failed")
    row = Notification.objects.create(job=job, event="failed", channel="webhook", recipient_key="webhook")

    assert notification_send(notification_id=row.pk, last_try=True) == "failed"
    row.refresh_from_db()
    assert row.status == DeliveryStatus.FAILED
    assert row.last_error.startswith("The webhook could not be reached")


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_each_mail_once_even_when_the_task_is_delivered_twice(cast):
    job = make_job(cast.project, created_by=cast.member, status="running")
    with (
        broker_for_test(celery_app, "memory://") as app,
        start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10),
    ):
        job_transition(job=job, to=JobStatus.SUCCEEDED)  # autocommit: the hook runs at once
        row = Notification.objects.get(job=job)
        wait_for(lambda: Notification.objects.get(pk=row.pk).status == DeliveryStatus.SENT)
        # What a redelivery after a worker restart looks like: the same task again, to the worker and here.
        notification_send_task.delay(row.pk)
        result = notification_send_task.apply(args=(row.pk,))

    assert result.get() == "skipped"
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_admins_set_the_webhook_and_send_a_test_message(client, cast, hook):
    client.login(username=cast.admin.username, password=PASSWORD)
    url = reverse("notifications:project", args=[cast.project.slug])

    client.post(url, {"url": hook.url})
    page = client.get(url).content.decode()
    response = client.post(reverse("notifications:webhook_test", args=[cast.project.slug]), follow=True)

    assert "secret" not in page  # the URL's path is the secret: only its host and end are shown
    assert "127.0.0.1" in page
    assert "took the test message" in response.content.decode()
    assert hook.bodies[0]["text"].startswith("Test message from finetune_portal")


@pytest.mark.django_db
def test_a_webhook_that_is_not_a_url_is_refused(client, cast):
    client.login(username=cast.admin.username, password=PASSWORD)
    response = client.post(reverse("notifications:project", args=[cast.project.slug]), {"url": "not a url"})
    assert response.status_code == 200
    assert "Enter a valid URL" in response.content.decode()


@pytest.mark.django_db
def test_the_webhook_url_is_encrypted_and_rotated_with_the_keys(cast, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command
    from django.db import connection

    from finetune_portal.notifications.models import ProjectWebhook

    project_webhook_set(project=cast.project, url="https://hooks.example.com/T1/B2/s3cr3t", actor=cast.admin)
    with connection.cursor() as cursor:
        cursor.execute("SELECT url FROM notifications_projectwebhook")
        [(stored,)] = cursor.fetchall()
    assert "s3cr3t" not in stored
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *settings.FIELD_ENCRYPTION_KEYS]

    call_command("rotate_encryption_keys", stdout=io.StringIO())
    settings.FIELD_ENCRYPTION_KEYS = [new_key]

    assert ProjectWebhook.objects.get(project=cast.project).url == "https://hooks.example.com/T1/B2/s3cr3t"


@pytest.mark.django_db
def test_testing_without_a_webhook_says_there_is_none(client, cast):
    client.login(username=cast.admin.username, password=PASSWORD)
    response = client.post(reverse("notifications:webhook_test", args=[cast.project.slug]), follow=True)
    assert "There is no webhook to test yet." in response.content.decode()
