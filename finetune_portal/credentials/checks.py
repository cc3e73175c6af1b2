"""Test a stored key against its provider: "Test key" on the credentials page.

The credentials app names no provider: each provider package registers a check for the credential kind
it uses (from its AppConfig.ready), and the page calls whatever is registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from finetune_portal.credentials.models import ProviderCredential


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    # One sentence for the person who pressed the button ("Invalid key: ...", "The key works: ...").
    summary: str
    # The provider's own words, when it said something.
    detail: str = ""


CredentialCheck = Callable[[ProviderCredential], CheckResult]
_CHECKS: dict[str, CredentialCheck] = {}


def register_credential_check(kind: str, check: CredentialCheck) -> None:
    _CHECKS[kind] = check


def credential_check(credential: ProviderCredential) -> CheckResult:
    """Ask the credential's provider whether the key works. Never raises for a provider's answer."""
    check = _CHECKS.get(credential.kind)
    if check is None:
        return CheckResult(
            False, f"No provider installed here can test a {credential.get_kind_display()} key."
        )
    return check(credential)
