"""Personal API tokens for the OpenAI-compatible endpoint at /v1."""

from __future__ import annotations

from django.conf import settings
from django.db import models

TOKEN_PREFIX = "ftp_"  # noqa: S105 - the public prefix every token starts with, not a secret


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A bearer token that acts as its user in one project, through /v1 only.

    The secret is shown once when created; only its keyed digest is kept. ``lookup`` is the public id
    part of the token (``ftp_<lookup>_<secret>``), so a request finds its row with one indexed query.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What it is for, e.g. the script that uses it.")
    lookup = models.CharField(max_length=24, unique=True)
    digest = models.CharField(max_length=64, help_text="HMAC-SHA256 of the whole token, hex.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix}…)"

    @property
    def display_prefix(self) -> str:
        """What the pages show to tell tokens apart; the secret part is never stored."""
        return f"{TOKEN_PREFIX}{self.lookup}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


FILE_ID_PREFIX = "file-"
JOB_ID_PREFIX = "ftjob-"


class ApiFile(models.Model):
    """A file uploaded through /v1/files: OpenAI's name for a dataset version of the token's project.

    The public id is random, so it says nothing about how many files or versions any project holds.
    Several uploads of the same bytes are several files of one version (the version is content-addressed).
    """

    public_id = models.CharField(max_length=40, unique=True)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="api_files")
    version = models.ForeignKey("datasets.DatasetVersion", on_delete=models.CASCADE, related_name="api_files")
    filename = models.CharField(max_length=255)
    purpose = models.CharField(max_length=32)
    byte_size = models.BigIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Deleted through the API: gone from /v1, while the dataset version stays in the project's history.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"])]

    def __str__(self) -> str:
        return self.public_id


class ApiJob(models.Model):
    """What a /v1 client asked for when it created a fine-tuning job, beside the portal's own job.

    The job itself is an ordinary FineTuningJob (same state machine, pages and charts); this row keeps the
    OpenAI-side names (its public id, the file ids) and what only the API has (metadata, the method echo).
    """

    public_id = models.CharField(max_length=40, unique=True)
    job = models.OneToOneField("jobs.FineTuningJob", on_delete=models.CASCADE, related_name="api_job")
    training_file = models.CharField(max_length=40)
    validation_file = models.CharField(max_length=40, blank=True)
    method = models.JSONField(default=dict)
    hyperparameters = models.JSONField(default=dict)
    metadata = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.public_id
