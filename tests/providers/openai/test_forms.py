from __future__ import annotations

import json
from decimal import Decimal

import pytest

from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.openai import catalog
from finetune_portal.providers.openai.forms import OpenAIJobForm
from tests.factories import make_dataset, make_version
from tests.providers.openai.conftest import GRADER, make_valid_version

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _before_the_wind_down(monkeypatch):
    # These tests describe launches OpenAI still took: o4-mini (the one RFT model) shut down on 2026-10-23.
    # The wind-down's refusals are in test_sunsets.py.
    from datetime import date

    from finetune_portal.providers import base

    monkeypatch.setattr(base, "sunset_today", lambda: date(2026, 10, 1))


def form(cast, **data):
    return OpenAIJobForm(data, project=cast.project, user=cast.member)


def test_only_valid_versions_of_this_project_are_offered(cast):
    valid = make_valid_version(cast.project)
    invalid = make_version(make_dataset(cast.project), status="invalid")
    elsewhere = make_valid_version(cast.other_project)
    offered = set(
        OpenAIJobForm(None, project=cast.project, user=cast.member).fields["training_version"].queryset
    )
    assert valid in offered
    assert invalid not in offered
    assert elsewhere not in offered


def test_a_valid_sft_launch_saves_a_draft_with_only_the_chosen_settings(cast):
    version = make_valid_version(cast.project)
    bound = form(
        cast,
        method="sft",
        base_model="gpt-4o-mini-2024-07-18",
        training_version=version.pk,
        n_epochs="4",
        learning_rate_multiplier="0.5",
        beta="0.3",  # a DPO setting left over from switching methods: not sent
        suffix="bank",
        seed="42",
    )
    assert bound.is_valid(), bound.errors
    job = bound.save()
    assert job.status == JobStatus.DRAFT
    assert job.provider == "openai"
    assert job.hyperparameters == {"n_epochs": 4, "learning_rate_multiplier": 0.5}
    assert (job.suffix, job.seed, job.created_by) == ("bank", 42, cast.member)
    tokens = version.validation_report["stats"]["total_tokens"]
    assert job.estimated_cost == catalog.training_cost("gpt-4o-mini-2024-07-18", tokens * 4)


def test_the_estimate_uses_openais_default_epochs_when_auto(cast):
    version = make_valid_version(cast.project, examples=12)
    estimate = form(cast, method="sft", base_model="gpt-4.1-2025-04-14", training_version=version.pk).estimate
    tokens = version.validation_report["stats"]["total_tokens"]
    assert estimate.epochs == catalog.default_epochs(12) == 8
    assert estimate.epochs_are_auto
    assert estimate.trained_tokens == tokens * 8
    assert estimate.cost == (Decimal(25) * tokens * 8 / 1_000_000).quantize(Decimal("0.0001"))


def test_data_of_the_wrong_kind_is_refused_next_to_the_field(cast):
    chat = make_valid_version(cast.project)
    bound = form(cast, method="dpo", base_model="gpt-4.1-mini-2025-04-14", training_version=chat.pk)
    assert not bound.is_valid()
    assert "DPO preference" in bound.errors["training_version"][0]


def test_a_model_that_cannot_do_the_method_is_refused(cast):
    rft = make_valid_version(cast.project, kind="rft")
    bound = form(
        cast, method="rft", base_model="gpt-4o-mini", training_version=rft.pk, grader=json.dumps(GRADER)
    )
    assert not bound.is_valid()
    assert "not Reinforcement" in bound.errors["base_model"][0]


def test_free_text_models_are_accepted(cast):
    version = make_valid_version(cast.project)
    bound = form(
        cast, method="sft", base_model="ft:gpt-4o-mini-2024-07-18:acme::abc123", training_version=version.pk
    )
    assert bound.is_valid(), bound.errors


@pytest.mark.parametrize(
    ("grader", "message"),
    [
        ("", "needs a grader"),
        ("{not json", "not valid JSON"),
        (
            json.dumps({"type": "string_check", "name": "x", "input": "a", "reference": "b"}),
            "needs “operation”",
        ),
        (json.dumps({"type": "telepathy"}), "type must be one of"),
        (
            json.dumps(
                {"type": "multi", "name": "m", "calculate_output": "a", "graders": {"a": {"type": "python"}}}
            ),
            "grader.graders.a",
        ),
    ],
)
def test_rft_graders_are_checked_for_shape(cast, grader, message):
    version = make_valid_version(cast.project, kind="rft")
    bound = form(
        cast, method="rft", base_model="o4-mini-2025-04-16", training_version=version.pk, grader=grader
    )
    assert not bound.is_valid()
    assert message in " ".join(bound.errors["grader"])


def test_the_endpoints_grader_check_is_asked_when_there_is_one(cast, standin, openai_credential):
    version = make_valid_version(cast.project, kind="rft")
    bound = form(
        cast,
        method="rft",
        base_model="o4-mini-2025-04-16",
        training_version=version.pk,
        grader=json.dumps(GRADER),
    )
    assert bound.is_valid(), bound.errors
    assert any(r["path"] == "/v1/fine_tuning/alpha/graders/validate" for r in standin.state.requests)
    job = bound.save()
    assert job.provider_data == {"grader": GRADER}


def test_vision_data_trains_only_models_that_see_images(cast):
    images = make_valid_version(cast.project, kind="vision")
    refused = form(cast, method="sft", base_model="gpt-4.1-mini-2025-04-14", training_version=images.pk)
    accepted = form(cast, method="sft", base_model="gpt-4o-2024-08-06", training_version=images.pk)
    assert not refused.is_valid()
    assert "cannot be fine-tuned on images" in refused.errors["base_model"][0]
    assert accepted.is_valid(), accepted.errors


def test_the_form_starts_from_the_model_the_dataset_page_priced_and_shows_the_same_cost(cast):
    from finetune_portal.datasets.versions import dataset_version_validate
    from tests.datasets.samples import chats, lines_of

    dataset = make_dataset(cast.project, kind="chat")
    uploaded = make_version(
        dataset, content=lines_of(chats(20)), status="uploaded", validation_target="openai"
    )
    stats = dataset_version_validate(version_id=uploaded.pk).validation_report["stats"]

    unbound = OpenAIJobForm(project=cast.project, user=cast.member)
    picked = form(cast, method="sft", training_version=uploaded.pk)

    assert unbound.fields["base_model"].initial == stats["base_model"]
    assert picked.estimate.cost == Decimal(stats["estimated_cost_usd"])


def offered_ids(bound, field="training_version"):
    return {value for value, _ in bound.fields[field].widget.choices if value != ""}


def test_the_data_lists_offer_what_the_chosen_method_trains_on(cast):
    chat = make_valid_version(cast.project, kind="chat")
    dpo = make_valid_version(cast.project, kind="dpo")
    rft = make_valid_version(cast.project, kind="rft")

    assert offered_ids(form(cast, method="sft")) == {chat.pk}
    assert offered_ids(form(cast, method="dpo")) == {dpo.pk}
    assert offered_ids(form(cast, method="rft"), "validation_version") == {rft.pk}
    unbound = OpenAIJobForm(None, project=cast.project, user=cast.member, initial={"method": "dpo"})
    assert offered_ids(unbound) == {dpo.pk}
