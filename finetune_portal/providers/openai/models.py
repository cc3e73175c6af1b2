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
