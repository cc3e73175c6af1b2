"""Evaluation results where models are listed and compared, and the job page's "evaluate it when it
succeeds", at desktop and phone width."""

from __future__ import annotations

import pytest

from finetune_portal.evaluations.models import Evaluation, EvaluationOnSuccess, EvaluationStatus
from finetune_portal.inference.catalog import served_model_of
from finetune_portal.jobs.services import metric_points_record
from finetune_portal.registry.services import fine_tuned_model_record
from finetune_portal.sweeps.models import Sweep, SweepRun
from tests.factories import make_dataset, make_job, make_version
from tests.providers.peft.helpers import chat_jsonl

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


def _evaluated_sweep(cast):
    dataset = make_dataset(cast.project, name="colours", kind="chat")
    train = make_version(dataset, content=chat_jsonl(range(20)), example_count=20)
    held_out = make_version(
        dataset, content=chat_jsonl(range(20, 30)), example_count=10, split_role="validation"
    )
    sweep = Sweep.objects.create(
        project=cast.project,
        created_by=cast.member,
        name="rank grid",
        provider="local_peft",
        space={"lora_rank": [4, 8, 16]},
        max_runs=3,
        max_concurrent=3,
    )
    names, jobs = [], []
    for index, (rank, loss) in enumerate([(4, 1.2), (8, 1.5), (16, 1.4)]):
        job = make_job(
            cast.project,
            name=f"rank grid · lora_rank={rank}",
            provider="local_peft",
            base_model="demo:tiny",
            status="succeeded",
            created_by=cast.member,
            training_version=train,
            hyperparameters={"lora_rank": rank},
        )
        SweepRun.objects.create(sweep=sweep, job=job, index=index, params={"lora_rank": rank})
        metric_points_record(job=job, points=[{"step": 10, "train_loss": loss + 0.2, "valid_loss": loss}])
        model = fine_tuned_model_record(job=job, base_model="demo:tiny", adapter_uri=f"file:///a/{job.pk}")
        names.append(served_model_of(model).name)
        jobs.append(job)
    for values, metric in (
        ({names[0]: 0.62, names[1]: 0.81, "demo:tiny": 0.40}, "accuracy"),
        ({names[2]: 0.70, "demo:tiny": 0.40}, "accuracy"),
        ({names[1]: 0.33, "demo:tiny": 0.21}, "rouge_l"),
    ):
        Evaluation.objects.create(
            project=cast.project,
            version=held_out,
            metric=metric,
            model_names=list(values),
            status=EvaluationStatus.SUCCEEDED,
            results={"models": {n: {"value": v} for n, v in values.items()}},
        )
    return sweep, jobs, held_out


def _fits_a_phone(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_scores_on_the_models_comparison_and_sweep_pages(page, log_in, screenshot, cast):
    sweep, jobs, _ = _evaluated_sweep(cast)
    log_in(cast.member)
    pages = {
        "models": f"/p/{cast.project.slug}/models/",
        "compare": f"/p/{cast.project.slug}/jobs/compare/?ids={','.join(str(j.pk) for j in jobs)}",
        "sweep": f"/p/{cast.project.slug}/sweeps/{sweep.pk}/",
    }

    page.set_viewport_size(DESKTOP)
    page.goto(pages["models"])
    assert page.get_by_role("link", name="81.0%").count() == 1
    screenshot("eval-models-desktop")
    page.goto(pages["compare"])
    assert page.locator('[data-testid="result-row"]').count() == 3
    screenshot("eval-compare-desktop")
    page.goto(pages["sweep"])
    best = page.locator("tr.best-run")
    assert best.get_attribute("data-job") == str(jobs[1].pk), "the best score wins over the lowest loss"
    assert best.locator('[data-figure="evaluation-score"]').inner_text() == "81.0%"
    screenshot("eval-sweep-desktop")

    page.set_viewport_size(PHONE)
    for name, url in pages.items():
        page.goto(url)
        _fits_a_phone(page)
        screenshot(f"eval-{name}-phone")


def test_attach_an_evaluation_from_a_running_jobs_page(page, log_in, screenshot, cast):
    _, _, held_out = _evaluated_sweep(cast)
    running = make_job(
        cast.project,
        name="next try",
        provider="local_peft",
        base_model="demo:tiny",
        status="running",
        created_by=cast.member,
    )
    log_in(cast.member)

    page.set_viewport_size(DESKTOP)
    page.goto(f"/p/{cast.project.slug}/jobs/{running.pk}/")
    section = page.locator("#job-evaluations")
    assert section.get_by_label("Dataset version").input_value() == str(held_out.pk)
    section.get_by_label("Metric").select_option("macro_f1")
    screenshot("eval-job-attach-desktop")
    section.get_by_role("button", name="Evaluate when it succeeds").dblclick()
    page.locator('[data-testid="attach-notice"]').wait_for()
    assert "Macro F1 on colours v2: attached." in page.locator('[data-testid="attach-notice"]').inner_text()
    assert EvaluationOnSuccess.objects.filter(job=running).count() == 1
    screenshot("eval-job-attached-desktop")

    page.set_viewport_size(PHONE)
    page.reload()
    _fits_a_phone(page)
    assert page.locator('[data-testid="attached-evaluations"] li').count() == 1
    screenshot("eval-job-attached-phone")
