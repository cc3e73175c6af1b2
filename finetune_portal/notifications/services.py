"""Job notifications: who is told what, and sending each message once.

A status move that matters becomes one Notification row per recipient (the unique key makes a repeated
report of the same event a no-op). A task then claims the row with a compare-and-set before it sends,
so a redelivered task (a worker restart, a lost ack) never sends a second copy.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from finetune_portal.accounts.models import NotificationSettings
from finetune_portal.core.audit import audit_log
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.states import JobStatus
from finetune_portal.notifications.models import (
    Channel,
    DeliveryStatus,
    JobEvent,
    Notification,
    ProjectWebhook,
)
from finetune_portal.notifications.webhook import DeliveryFailed, webhook_post
from finetune_portal.projects.models import Membership, Project, Role

logger = logging.getLogger(__name__)

WEBHOOK_KEY = "webhook"


def job_event_for(*, to_status: str, actor_id: int | None, created_by_id: int | None) -> JobEvent | None:
    """The event a status move is, if anyone is told about it."""
    if to_status == JobStatus.SUCCEEDED:
        return JobEvent.SUCCEEDED
    if to_status == JobStatus.FAILED:
        return JobEvent.FAILED
    if to_status == JobStatus.AWAITING_APPROVAL:
        return JobEvent.NEEDS_APPROVAL
    if to_status == JobStatus.CANCELLED and actor_id is not None and actor_id != created_by_id:
        return JobEvent.CANCELLED
    return None


def _email_recipients(job: FineTuningJob, event: JobEvent, actor_id: int | None) -> list:
    User = get_user_model()
    if event == JobEvent.NEEDS_APPROVAL:
        approvers = Membership.objects.filter(project_id=job.project_id, role__in=[Role.ML_LEAD, Role.ADMIN])
        candidates = User.objects.filter(pk__in=approvers.values("user_id"))
        if actor_id is not None:
            candidates = candidates.exclude(pk=actor_id)  # the launcher knows already
    elif job.created_by_id is not None:
        candidates = User.objects.filter(pk=job.created_by_id)
    else:
        return []
    opted_out = NotificationSettings.objects.filter(**{f"job_{event.value}": False}).values("user_id")
    return list(
        candidates.filter(is_active=True).exclude(email="").exclude(pk__in=opted_out).order_by("username")
    )


def notifications_plan(*, job_id: int, to_status: str, actor_id: int | None) -> list[int]:
    """Record who is told about this status move; returns the ids of rows new and waiting to be sent."""
    job = FineTuningJob.objects.select_related("project").filter(pk=job_id).first()
    if job is None or job.imported:
        return []  # an imported run's history is not news
    if to_status == JobStatus.CANCELLED and actor_id is None:
        # A job at a provider ends cancelled when its worker confirms; the person is who asked for it.
        actor_id = (
            job.transitions.filter(
                to_status__in=[JobStatus.CANCELLING, JobStatus.CANCELLED], actor__isnull=False
            )
            .order_by("-created_at", "-id")
            .values_list("actor_id", flat=True)
            .first()
        )
    event = job_event_for(to_status=to_status, actor_id=actor_id, created_by_id=job.created_by_id)
    if event is None:
        return []
    wanted: list[tuple[str, str, int | None]] = [
        (Channel.EMAIL, f"user:{user.pk}", user.pk) for user in _email_recipients(job, event, actor_id)
    ]
    if ProjectWebhook.objects.filter(project_id=job.project_id).exists():
        wanted.append((Channel.WEBHOOK, WEBHOOK_KEY, None))
    new_ids = []
    for channel, key, user_id in wanted:
        row, created = Notification.objects.get_or_create(
            job=job, event=event, recipient_key=key, defaults={"channel": channel, "recipient_id": user_id}
        )
        if created:
            new_ids.append(row.pk)
    return new_ids


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


def _message(notification: Notification) -> Message:
    job = notification.job
    link = f"{settings.PORTAL_BASE_URL.rstrip('/')}{reverse('jobs:detail', args=[job.project.slug, job.pk])}"
    context = {
        "job": job,
        "project": job.project,
        "event": notification.event,
        "link": link,
        "reason": _reason(job, notification.event),
        "profile_link": f"{settings.PORTAL_BASE_URL.rstrip('/')}{reverse('accounts:profile')}",
    }
    subject = render_to_string("notifications/email/job_subject.txt", context).strip()
    body = render_to_string("notifications/email/job.txt", context)
    return Message(subject=subject, body=body)


def _reason(job: FineTuningJob, event: str) -> str:
    """Why it happened, in the words of the move (and, for a cancel, who asked)."""
    moves = job.transitions.select_related("actor").order_by("-created_at", "-id")
    if event == JobEvent.CANCELLED:
        asked = moves.filter(to_status__in=[JobStatus.CANCELLING, JobStatus.CANCELLED], actor__isnull=False)
        move = asked.first()
        return f"{move.reason} by {move.actor}" if move and move.actor else ""
    move = moves.first()
    return move.reason if move else ""


def _deliver(notification: Notification) -> None:
    message = _message(notification)
    if notification.channel == Channel.EMAIL:
        if notification.recipient is None or not notification.recipient.email:
            raise DeliveryFailed("The person has no e-mail address now.")
        try:
            send_mail(message.subject, message.body, None, [notification.recipient.email])
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"The mail server did not take it: {exc}") from exc
        return
    webhook_post(project_id=notification.job.project_id, text=f"{message.subject}\n{_first_line(message)}")


def _first_line(message: Message) -> str:
    lines = [line for line in message.body.splitlines() if line.strip()]
    return "\n".join(lines[:3])


def notification_send(*, notification_id: int, last_try: bool = False) -> str:
    """Send one notification unless another task has it or sent it. Returns "sent", "skipped",
    "retry" (put back to pending, try later) or "failed" (``last_try``: given up)."""
    claimable = Q(status=DeliveryStatus.PENDING) | Q(
        status=DeliveryStatus.SENDING, updated_at__lt=_stale_cutoff()
    )
    claimed = Notification.objects.filter(claimable, pk=notification_id).update(
        status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, updated_at=timezone.now()
    )
    if not claimed:
        return "skipped"
    notification = Notification.objects.select_related("job__project", "recipient").get(pk=notification_id)
    try:
        _deliver(notification)
    except DeliveryFailed as exc:
        status = DeliveryStatus.FAILED if last_try else DeliveryStatus.PENDING
        Notification.objects.filter(pk=notification_id).update(
            status=status, last_error=str(exc)[:500], updated_at=timezone.now()
        )
        logger.warning("Notification %s not delivered (%s).", notification_id, exc)
        return "failed" if last_try else "retry"
    Notification.objects.filter(pk=notification_id).update(
        status=DeliveryStatus.SENT, sent_at=timezone.now(), last_error="", updated_at=timezone.now()
    )
    return "sent"


def _stale_cutoff():
    """A row "sending" since before this was claimed by a worker that died mid-send (a send is bounded by
    the webhook and mail timeouts, far below this), so it may be claimed again."""
    return timezone.now() - timedelta(seconds=settings.NOTIFICATION_SENDING_STALE_SECONDS)


def notifications_waiting(*, older_than: timedelta) -> list[int]:
    """Rows still pending well after their event (the broker was down, or a retry was lost), and rows left
    "sending" by a worker that died."""
    cutoff = timezone.now() - older_than
    return list(
        Notification.objects.filter(
            Q(status=DeliveryStatus.PENDING, updated_at__lt=cutoff)
            | Q(status=DeliveryStatus.SENDING, updated_at__lt=_stale_cutoff())
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:500]
    )


@transaction.atomic
def project_webhook_set(*, project: Project, url: str, actor) -> None:
    """Set the project's webhook, or with an empty ``url`` remove it."""
    url = url.strip()
    if url:
        ProjectWebhook.objects.update_or_create(project=project, defaults={"url": url, "created_by": actor})
    else:
        ProjectWebhook.objects.filter(project=project).delete()
    audit_log(
        actor=actor,
        action="project.webhook_set" if url else "project.webhook_removed",
        target=project,
        project=project,
    )
