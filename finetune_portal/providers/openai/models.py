from __future__ import annotations

from django.db import models


class UploadedFile(models.Model):
    """A dataset file already at an OpenAI account: the same bytes are never uploaded twice per key."""

    credential = models.ForeignKey(
        "credentials.ProviderCredential", on_delete=models.CASCADE, related_name="openai_uploaded_files"
    )
    sha256 = models.CharField(max_length=64)
    provider_file_id = models.CharField(max_length=128)
    byte_size = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["credential", "sha256"], name="openai_file_unique_per_credential"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider_file_id} ({self.sha256[:12]})"


class ModelShutdownDate(models.Model):
    """A ``shutdown_date`` OpenAI announced for a model in ``GET /v1/models``: it overrides the catalog's
    table, which holds the dates as reported on SHUTDOWNS_KNOWN_ON."""

    model_id = models.CharField(max_length=255, unique=True)
    shutdown_on = models.DateField()
    read_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.model_id} shuts down {self.shutdown_on}"
