"""Test an OpenAI (or compatible) key: list models, then list fine-tuning jobs (which needs the fine-tuning
permission a restricted key may lack). Registered for the "openai" credential kind."""

from __future__ import annotations

import openai

from finetune_portal.credentials.checks import CheckResult
from finetune_portal.credentials.models import ProviderCredential
from finetune_portal.providers.openai.client import openai_client_for

# A person waits for the answer: a dead endpoint must not hold the page for a minute.
CHECK_TIMEOUT_SECONDS = 10.0


def _endpoint(credential: ProviderCredential) -> str:
    return credential.base_url or "api.openai.com"


def openai_credential_check(credential: ProviderCredential) -> CheckResult:
    endpoint = _endpoint(credential)
    try:
        client = openai_client_for(credential, max_retries=0).with_options(timeout=CHECK_TIMEOUT_SECONDS)
    except ValueError as exc:
        return CheckResult(False, f"The credential is incomplete: {exc}")
    step = "list models"
    try:
        models = client.models.list()
        count = len(models.data)
        step = "list fine-tuning jobs"
        client.fine_tuning.jobs.list(limit=1)
    except openai.AuthenticationError as exc:
        return CheckResult(False, f"Invalid key: {endpoint} refused it.", _said(exc))
    except openai.PermissionDeniedError as exc:
        if step == "list fine-tuning jobs":
            return CheckResult(False, "The key works but has no fine-tuning permission.", _said(exc))
        return CheckResult(False, f"The key may not {step} at {endpoint}.", _said(exc))
    except openai.APITimeoutError:
        return CheckResult(False, f"Unreachable endpoint: {endpoint} did not answer in time.")
    except openai.APIConnectionError:
        return CheckResult(False, f"Unreachable endpoint: could not connect to {endpoint}.")
    except openai.APIStatusError as exc:
        return CheckResult(
            False, f"{endpoint} answered HTTP {exc.status_code} when asked to {step}.", _said(exc)
        )
    return CheckResult(True, f"The key works at {endpoint}: {count} models visible, fine-tuning allowed.")


def _said(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    return str((error or {}).get("message") or exc.message)
