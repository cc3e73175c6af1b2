from __future__ import annotations

from datetime import date

import pytest

from finetune_portal.providers import base
from finetune_portal.registry.models import FineTunedModel
from tests.factories import make_dataset, make_job, make_project, make_version
from tests.providers.openai.conftest import make_valid_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def at_stake(cast, monkeypatch):
    monkeypatch.setattr(base, "sunset_today", lambda: date(2026, 12, 4))
    version = make_valid_version(cast.project)
    job = make_job(
        cast.project,
        created_by=cast.member,
        status="succeeded",
        training_version=version,
        hyperparameters={"n_epochs": 4, "batch_size": 8, "learning_rate_multiplier": 2.0},
        seed=7,
    )
    FineTunedModel.objects.create(
        job=job, provider_model_id="ft:gpt-4o-mini-2024-07-18:acme::abc", base_model=job.base_model
    )
    imported = make_job(cast.project, status="succeeded", imported=True)
    FineTunedModel.objects.create(
        job=imported, provider_model_id="ft:gpt-4o-mini-2024-07-18:acme::old", base_model=job.base_model
    )
    return job


def test_a_member_sees_each_model_at_stake_with_days_left_and_exit_status(client, cast, at_stake):
    client.force_login(cast.member)
    page = client.get("/p/bank-reviews/exit/").content.decode()
    assert "ft:gpt-4o-mini-2024-07-18:acme::abc" in page
    assert "ft:gpt-4o-mini-2024-07-18:acme::old" in page
    assert page.count("41 days left") == 2
    assert 'data-testid="data-held"' in page
    assert 'data-testid="data-missing"' in page  # the imported job's data was never in the portal
    assert page.count('data-testid="captured">not yet') == 2
    assert page.count('data-testid="parity">not yet') == 2
    assert 'data-testid="exit-tab"' in page


def test_an_outsider_gets_404_and_only_a_site_admin_sees_every_project(client, cast, at_stake):
    client.force_login(cast.outsider)
    assert client.get("/p/bank-reviews/exit/").status_code == 404
    assert client.get("/exit/").status_code == 403
    client.force_login(cast.site_admin)
    page = client.get("/exit/").content.decode()
    assert "Bank reviews" in page
    assert "ft:gpt-4o-mini-2024-07-18:acme::abc" in page


def test_no_exit_tab_without_models_at_stake(client, cast):
    client.force_login(cast.member)
    assert 'data-testid="exit-tab"' not in client.get("/p/bank-reviews/models/").content.decode()


def test_retrain_prefills_the_local_form_with_mapped_settings(client, cast, at_stake):
    client.force_login(cast.member)
    response = client.get(f"/p/bank-reviews/exit/retrain/{at_stake.pk}/")
    form = response.context["form"]
    assert response.context["provider"] == "local_peft"
    assert form["training_version"].value() == at_stake.training_version_id
    assert form["epochs"].value() == 4
    assert form["batch_size"].value() == 8
    assert form["base_model"].value() == "demo:tiny"  # no GPU reported
    assert form["learning_rate"].value() == pytest.approx(2 * 5e-3)
    assert form["replaces"].value() == at_stake.pk
    page = response.content.decode()
    assert 'action="/p/bank-reviews/jobs/new/"' in page
    assert "does not publish the learning rate" in page


def test_the_multiplier_is_capped_and_a_big_gpu_suggests_a_bigger_model(cast, at_stake):
    from finetune_portal.providers.peft.retrain import retrain_initial
    from finetune_portal.providers.peft.workers import worker_node_report

    at_stake.hyperparameters = {"learning_rate_multiplier": 50}
    worker_node_report(
        hostname="gpu1",
        queues=["gpu"],
        hardware={"gpus": [{"name": "H200", "memory_bytes": 140 * 1024**3}], "bf16": True},
    )
    initial = retrain_initial(at_stake)
    assert initial["base_model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert initial["learning_rate"] == pytest.approx(2e-4 * 10)


def test_launching_the_retrain_records_what_it_replaces(client, cast, at_stake):
    client.force_login(cast.member)
    form = client.get(f"/p/bank-reviews/exit/retrain/{at_stake.pk}/").context["form"]
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data = {k: v for k, v in data.items() if v is not False}
    data.update({"provider": "local_peft", "launch_token": "t" * 24})
    response = client.post("/p/bank-reviews/jobs/new/", data)
    assert response.status_code == 302, response.context and response.context["form"].errors
    new_job = at_stake.replaced_by.get()
    assert new_job.provider == "local_peft"
    assert new_job.training_version_id == at_stake.training_version_id
    page = client.get(f"/p/bank-reviews/jobs/{new_job.pk}/").content.decode()
    assert 'data-testid="replaces"' in page
    old_page = client.get(f"/p/bank-reviews/jobs/{at_stake.pk}/").content.decode()
    assert 'data-testid="replaced-by"' in old_page
    assert "41 days left" in old_page
    exit_page = client.get("/p/bank-reviews/exit/").content.decode()
    assert 'data-testid="replacement"' in exit_page


def test_the_models_page_shows_days_left_and_the_retrain_link(client, cast, at_stake):
    client.force_login(cast.member)
    page = client.get("/p/bank-reviews/models/").content.decode()
    assert "41 days left" in page
    assert f"/p/bank-reviews/exit/retrain/{at_stake.pk}/" in page


def test_retrain_from_captured_answers_is_supervised_on_that_version(client, cast, at_stake):
    answers = make_version(
        make_dataset(cast.project, name="Answers of the model", kind="chat", created_by=cast.member),
        content=b"{}\n",
    )
    at_stake.method = "dpo"
    at_stake.save(update_fields=["method"])
    client.force_login(cast.member)
    response = client.get(f"/p/bank-reviews/exit/retrain/{at_stake.pk}/?version={answers.pk}")
    form = response.context["form"]
    assert form["training_version"].value() == answers.pk
    assert form["method"].value() == "sft"  # distilled from answers, whatever the original method
    assert form["replaces"].value() == at_stake.pk
    assert "distilled from its captured answers" in response.content.decode()


def test_retrain_refuses_a_version_of_another_project_or_no_number(client, cast, at_stake):
    elsewhere = make_project(name="Elsewhere", slug="elsewhere")
    foreign = make_version(make_dataset(elsewhere, name="theirs", kind="chat"), content=b"{}\n")
    client.force_login(cast.member)
    assert client.get(f"/p/bank-reviews/exit/retrain/{at_stake.pk}/?version={foreign.pk}").status_code == 404
    assert client.get(f"/p/bank-reviews/exit/retrain/{at_stake.pk}/?version=x").status_code == 404
