"""Test a Hugging Face token with the Hub's whoami. Registered for the "huggingface" credential kind."""

from __future__ import annotations

from finetune_portal.credentials.checks import CheckResult
from finetune_portal.credentials.models import ProviderCredential


def huggingface_credential_check(credential: ProviderCredential) -> CheckResult:
    try:
        import httpx2
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
    except ImportError:
        return CheckResult(
            False, "This server has no huggingface_hub installed, so it cannot test the token."
        )
    try:
        who = HfApi(token=credential.secret).whoami()
    except OfflineModeIsEnabled:
        return CheckResult(False, "Unreachable endpoint: this server runs with the Hugging Face Hub offline.")
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status == 401:
            return CheckResult(False, "Invalid key: the Hugging Face Hub does not accept this token.")
        return CheckResult(False, f"The Hugging Face Hub answered HTTP {status}.", str(exc).splitlines()[0])
    except (httpx2.TransportError, OSError):
        return CheckResult(False, "Unreachable endpoint: could not connect to the Hugging Face Hub.")
    name = who.get("name", "?")
    role = ((who.get("auth") or {}).get("accessToken") or {}).get("role", "")
    if role == "read":
        return CheckResult(
            True,
            f"The token works for {name}, read-only: it downloads gated models but cannot push adapters "
            "to the Hub.",
        )
    kind = f" ({role} token)" if role else ""
    return CheckResult(True, f"The token works for {name}{kind}.")
