from __future__ import annotations

import pytest
from django.core.management import call_command

from finetune_portal.credentials.models import ProviderCredential
from finetune_portal.credentials.services import credential_create

pytestmark = pytest.mark.django_db


def test_the_demo_credential_is_labelled_and_points_at_the_stand_in(cast):
    call_command("openai_standin_credential", base_url="http://127.0.0.1:8765/v1")
    call_command("openai_standin_credential", base_url="http://127.0.0.1:8765/v1")
    [credential] = ProviderCredential.objects.active().filter(kind="openai", project__isnull=True)
    assert credential.label == "Stand-in server (not OpenAI)"
    assert credential.base_url == "http://127.0.0.1:8765/v1"


def test_a_real_site_wide_credential_is_never_replaced(cast):
    real = credential_create(
        kind="openai", secret="sk-real-key-9999", label="Company account", actor=cast.site_admin
    )
    call_command("openai_standin_credential", base_url="http://127.0.0.1:8765/v1")
    assert list(ProviderCredential.objects.active().filter(kind="openai")) == [real]
