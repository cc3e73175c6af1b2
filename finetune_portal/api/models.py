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
