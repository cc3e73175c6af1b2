"""The installed providers come from settings, and the core pages work with any of them."""

from __future__ import annotations

import pytest
from django.template.loader import select_template
from django.urls import reverse

from finetune_portal.datasets.forms import UploadForm
from finetune_portal.datasets.validation import validate_file
from finetune_portal.jobs.compare_settings import NOTED_FIGURES
from finetune_portal.jobs.metrics import TRAIN_LOSS
from finetune_portal.jobs.views import NEUTRAL_PARTS_FOLDER, PROVIDER_PARTS
from finetune_portal.providers import registry
from finetune_portal.providers.base import ProviderUnavailable
from tests.datasets.samples import chats, lines_of, write
from tests.factories import PASSWORD, make_job
from tests.providers import fake_provider

OPENAI = "finetune_portal.providers.openai.provider.OpenAIProvider"


def test_the_settings_list_the_providers_in_page_order():
    assert registry.provider_keys() == ["openai", "local_peft"]
    assert registry.provider_choices() == [("openai", "OpenAI"), ("local_peft", "Local GPU (PEFT)")]
    assert registry.default_provider_key() == "openai"


def test_an_unknown_provider_is_unavailable():
    with pytest.raises(ProviderUnavailable):
        registry.get_provider("nobody")
    assert registry.provider_or_none("nobody") is None


@pytest.mark.parametrize("key", ["openai", "local_peft"])
def test_each_installed_provider_brings_what_the_core_asks_of_it(key):
    provider = registry.get_provider(key)

    assert provider.key == key
    assert registry.get_launch_form_class(key).__name__.endswith("JobForm")
    assert registry.dataset_profile(key) is provider.dataset_profile
    assert set(provider.metric_notes) == set(NOTED_FIGURES)
    assert provider.capabilities.methods
    for part in PROVIDER_PARTS:
        select_template(
            [f"{provider.template_folder}/job_{part}.html", f"{NEUTRAL_PARTS_FOLDER}/job_{part}.html"]
        )


def test_only_openai_can_pause():
    assert registry.get_provider("openai").capabilities.pause is True
    assert registry.get_provider("local_peft").capabilities.pause is False


@pytest.fixture
def with_fake_provider(settings):
    fake_provider.FakeProvider.started = []
    settings.FINETUNE_PROVIDERS = [OPENAI, fake_provider.PATH]
    return fake_provider.FakeProvider


@pytest.fixture
def member_client(client, cast):
    client.login(username=cast.member.username, password=PASSWORD)
    return client


class TestANewProviderNeedsNoCoreChange:
    def test_the_registry_lists_it_after_the_settings_change(self, with_fake_provider):
        assert registry.provider_choices() == [("openai", "OpenAI"), ("fake_cloud", "Fake Cloud")]
        assert registry.get_launch_form_class("fake_cloud") is fake_provider.FakeJobForm

    @pytest.mark.django_db
    def test_its_launch_form_creates_and_launches_a_job(
        self, with_fake_provider, member_client, cast, django_capture_on_commit_callbacks
    ):
        url = reverse("jobs:new", args=[cast.project.slug])
        page = member_client.get(url + "?provider=fake_cloud")
        assert page.status_code == 200
        assert page.context["providers"][-1] == ("fake_cloud", "Fake Cloud")

        with django_capture_on_commit_callbacks(execute=True):
            response = member_client.post(url, {"provider": "fake_cloud", "base_model": "fake-large"})

        job = cast.project.jobs.get()
        assert response.status_code == 302
        assert (job.provider, job.base_model, job.status) == ("fake_cloud", "fake-large", "queued")
        assert with_fake_provider.started == [job.pk]

    @pytest.mark.django_db
    def test_the_runs_list_filters_by_it(self, with_fake_provider, member_client, cast):
        make_job(cast.project, name="at-openai")
        make_job(cast.project, name="at-fake", provider="fake_cloud")

        page = member_client.get(reverse("jobs:list", args=[cast.project.slug]) + "?provider=fake_cloud")

        assert [job.name for job in page.context["jobs"]] == ["at-fake"]
        assert "Fake Cloud" in page.content.decode()

    @pytest.mark.django_db
    def test_the_job_page_uses_the_neutral_parts_and_its_pause_capability(
        self, with_fake_provider, member_client, cast
    ):
        job = make_job(cast.project, created_by=cast.member, provider="fake_cloud", status="running")

        page = member_client.get(reverse("jobs:detail", args=[cast.project.slug, job.pk]))

        body = page.content.decode()
        assert page.context["can_pause"] is True
        assert "Cost so far (est.)" in body
        assert "own GPU workers" not in body

    @pytest.mark.django_db
    def test_the_comparison_explains_its_figures(self, with_fake_provider, member_client, cast):
        a = make_job(cast.project, name="a")
        b = make_job(cast.project, name="b", provider="fake_cloud")

        page = member_client.get(reverse("jobs:compare", args=[cast.project.slug]) + f"?ids={a.pk},{b.pk}")

        train_note = next(
            n for n in page.context["comparison"].notes if n.metric == NOTED_FIGURES[TRAIN_LOSS]
        )
        assert train_note.notes[-1] == ("Fake Cloud", "Fake Cloud reports the loss of its last batch.")
        assert "Fake Cloud reports the loss of its last batch." in page.content.decode()

    def test_validation_applies_its_dataset_profile(self, with_fake_provider, tmp_path):
        report = validate_file(write(tmp_path, lines_of(chats(2))), kind="chat", target="fake_cloud")

        stats = report["stats"]
        assert report["errors"][0]["message"] == "Fake Cloud wants 3 examples, not 2."
        assert (stats["tokenizer"], stats["max_tokens_per_example"]) == ("tiktoken:cl100k_base", 5)
        assert stats["default_epochs"] == 2
        assert stats["estimated_billed_tokens"] == 2 * 5 * 2
        assert stats["estimated_cost_usd"] == "0.02"
        assert stats["prices_taken_on"] is None

    def test_the_upload_form_offers_it_as_a_target(self, with_fake_provider):
        form = UploadForm()

        assert list(form.fields["target"].choices)[-1] == ("fake_cloud", "Fake Cloud")
        assert form.fields["target"].initial == "openai"
        assert "fake-small" in form.base_model_names
        assert "A Fake Cloud model" in form.fields["base_model"].help_text
