"""Builds the SDK client for a stored credential (the only place that reads the secret), and picks the
credential a job uses."""

from __future__ import annotations

from django.conf import settings
from openai import AzureOpenAI, OpenAI

from finetune_portal.credentials.models import ProviderCredential
from finetune_portal.credentials.services import credential_resolve
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.providers.base import ProviderError

DEFAULT_AZURE_API_VERSION = "2025-04-01-preview"


def request_timeout() -> float:
    return float(getattr(settings, "OPENAI_REQUEST_TIMEOUT", 60.0))


def openai_client_for(credential: ProviderCredential, *, max_retries: int = 2) -> OpenAI:
    """An ``OpenAI`` client, or ``AzureOpenAI`` when the credential's options say ``{"azure": true}``.

    ``base_url`` lets one credential point at any OpenAI-compatible endpoint (or the local stand-in).
    """
    options = credential.options or {}
    if options.get("azure"):
        if not credential.base_url:
            raise ValueError("An Azure OpenAI credential needs its endpoint as base_url.")
        return AzureOpenAI(
            api_key=credential.secret,
            azure_endpoint=credential.base_url,
            api_version=options.get("api_version") or DEFAULT_AZURE_API_VERSION,
            max_retries=max_retries,
            timeout=request_timeout(),
        )
    return OpenAI(
        api_key=credential.secret,
        base_url=credential.base_url or None,
        organization=options.get("organization") or None,
        project=options.get("project") or None,
        max_retries=max_retries,
        timeout=request_timeout(),
    )


def _no_credential() -> ProviderError:
    return ProviderError(
        "No OpenAI credential is configured for this project or site-wide.",
        permanent=True,
        hint="A project admin can add one under Credentials; a site admin can add a site-wide one.",
        code="no_credential",
    )


def credential_for(job: FineTuningJob) -> ProviderCredential:
    """The job's own credential while it is active, else the project's or the site-wide one."""
    credential = job.credential if job.credential_id and job.credential.is_active else None
    credential = credential or credential_resolve(kind="openai", project=job.project)
    if credential is None:
        raise _no_credential()
    return credential


def credential_for_project(project) -> ProviderCredential:
    """The project's active OpenAI credential, else the site-wide one (what chats with its models use)."""
    credential = credential_resolve(kind="openai", project=project)
    if credential is None:
        raise _no_credential()
    return credential
