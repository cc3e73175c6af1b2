"""'Test key': a stored key is checked at its provider and the answer is given in words."""

from __future__ import annotations

import pytest
from django.urls import reverse

from finetune_portal.core.models import AuditEntry
from finetune_portal.credentials.checks import credential_check
from finetune_portal.credentials.services import credential_create
from tests.factories import PASSWORD


@pytest.fixture
def standin():
    from devtools.openai_standin.server import StandinServer

    server = StandinServer().start_in_thread()
    yield server
    server.stop()


def _openai_key(cast, base_url):
    return credential_create(
        kind="openai",
        secret="sk-test-key-1234",
        label="Team key",
        base_url=base_url,
        project=cast.project,
        actor=cast.admin,
    )


@pytest.mark.django_db
def test_a_working_openai_key_says_so(cast, standin):
    result = credential_check(_openai_key(cast, standin.base_url))
    assert result.ok
    assert "fine-tuning allowed" in result.summary
    paths = [r["path"] for r in standin.state.requests]
    assert paths == ["/v1/models", "/v1/fine_tuning/jobs"]


@pytest.mark.django_db
def test_a_refused_openai_key_is_called_invalid(cast, standin):
    standin.state.faults.statuses.append(("GET", "/models", 401, {}, "invalid_api_key"))
    result = credential_check(_openai_key(cast, standin.base_url))
    assert not result.ok
    assert result.summary.startswith("Invalid key:")
    assert "Incorrect API key provided" in result.detail


@pytest.mark.django_db
def test_a_key_without_fine_tuning_permission_says_so(cast, standin):
    standin.state.faults.statuses.append(("GET", "/fine_tuning/jobs", 403, {}, "insufficient_permissions"))
    result = credential_check(_openai_key(cast, standin.base_url))
    assert not result.ok
    assert result.summary == "The key works but has no fine-tuning permission."
    assert "Missing scopes" in result.detail


@pytest.mark.django_db
def test_an_unreachable_endpoint_says_so(cast):
    result = credential_check(_openai_key(cast, "http://127.0.0.1:1/v1"))
    assert not result.ok
    assert result.summary == "Unreachable endpoint: could not connect to http://127.0.0.1:1/v1."


@pytest.fixture
def fake_hub():
    import huggingface_hub
    from huggingface_hub.utils._http import default_client_factory

    from tests.providers.peft.fake_hub import FakeHub

    hub = FakeHub()
    huggingface_hub.set_client_factory(hub.client)
    try:
        yield hub
    finally:
        huggingface_hub.set_client_factory(default_client_factory)


def _hf_token(cast, secret):
    return credential_create(
        kind="huggingface", secret=secret, label="Hub", project=cast.project, actor=cast.admin
    )


@pytest.mark.django_db
def test_a_hugging_face_token_is_checked_with_whoami(cast, fake_hub):
    fake_hub.accounts["hf_writer_token"] = ("acme-ml", "write")
    fake_hub.accounts["hf_reader_token"] = ("acme-ml", "read")

    writer = credential_check(_hf_token(cast, "hf_writer_token"))
    reader = credential_check(_hf_token(cast, "hf_reader_token"))
    unknown = credential_check(_hf_token(cast, "hf_mistyped_token"))

    assert (writer.ok, writer.summary) == (True, "The token works for acme-ml (write token).")
    assert reader.ok
    assert "cannot push adapters" in reader.summary
    assert (unknown.ok, unknown.summary) == (
        False,
        "Invalid key: the Hugging Face Hub does not accept this token.",
    )


@pytest.mark.django_db
def test_the_button_tells_the_result_and_audits_it(client, cast, standin):
    credential = _openai_key(cast, standin.base_url)
    standin.state.faults.statuses.append(("GET", "/models", 401, {}, "invalid_api_key"))
    client.login(username=cast.admin.username, password=PASSWORD)

    page = client.get(reverse("credentials:project", args=[cast.project.slug])).content.decode()
    response = client.post(reverse("credentials:test", args=[credential.pk]), follow=True)

    assert "Test key" in page
    content = response.content.decode()
    assert "Team key: Invalid key:" in content
    assert "sk-test-key-1234" not in content
    entry = AuditEntry.objects.get(action="credential.checked")
    assert entry.data["ok"] is False


@pytest.mark.django_db
def test_only_those_who_manage_a_key_may_test_it(client, cast, standin):
    credential = _openai_key(cast, standin.base_url)
    client.login(username=cast.ml_lead.username, password=PASSWORD)
    assert client.post(reverse("credentials:test", args=[credential.pk])).status_code == 403
    assert standin.state.requests == []
