from __future__ import annotations

import pytest
from openai import AzureOpenAI, OpenAI

from finetune_portal.credentials.services import credential_create
from finetune_portal.providers.openai.client import openai_client_for


@pytest.mark.django_db
def test_a_credential_with_a_base_url_points_the_client_there(cast):
    credential = credential_create(
        kind="openai",
        secret="sk-live-abcd1234",
        label="Compatible endpoint",
        base_url="http://127.0.0.1:9/v1",
        options={"organization": "org-42"},
        actor=cast.site_admin,
    )
    client = openai_client_for(credential, max_retries=0)
    assert type(client) is OpenAI
    assert str(client.base_url) == "http://127.0.0.1:9/v1/"
    assert client.api_key == "sk-live-abcd1234"
    assert client.organization == "org-42"
    assert client.max_retries == 0


@pytest.mark.django_db
def test_azure_options_build_the_azure_client_with_its_api_version(cast):
    credential = credential_create(
        kind="openai",
        secret="azure-key-1234",
        label="Azure",
        base_url="https://example-resource.openai.azure.com",
        options={"azure": True, "api_version": "2025-04-01-preview"},
        project=cast.project,
        actor=cast.admin,
    )
    client = openai_client_for(credential)
    assert isinstance(client, AzureOpenAI)
    assert client._api_version == "2025-04-01-preview"
    assert str(client.base_url).startswith("https://example-resource.openai.azure.com/openai")
