"""One job per rendering of a launch form: a double click, a resent request or a second tab submitting
the same form finds the job the first submission created."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

from django.db import IntegrityError, transaction

from finetune_portal.jobs.models import FineTuningJob

LAUNCH_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def launch_token_new() -> str:
    """A one-time token for one rendering of a launch form."""
    return secrets.token_urlsafe(24)


def job_create_once(*, project, token: str, save: Callable[[], FineTuningJob]) -> tuple[FineTuningJob, bool]:
    """Create a job with ``save`` (the launch form's) once per form token.

    Returns (the new job, True), or (the job an earlier submission of the same form created, False) when
    the token was used already, even by a submission still running: the token is written in the same
    transaction as the job, and the unique constraint lets only one of them commit. A token that is not
    one the portal makes is ignored (the job is created). ``save`` runs in a transaction either way,
    so whatever it writes beside the job (the launch form's extras) stands or falls with it.
    """
    if not LAUNCH_TOKEN.match(token or ""):
        with transaction.atomic():
            return save(), True
    try:
        with transaction.atomic():
            job = save()
            FineTuningJob.objects.filter(pk=job.pk).update(launch_token=token)
            job.launch_token = token
    except IntegrityError:
        earlier = FineTuningJob.objects.filter(project=project, launch_token=token).first()
        if earlier is None:
            raise
        return earlier, False
    return job, True
