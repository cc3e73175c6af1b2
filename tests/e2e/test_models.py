"""A trained model from the user's side: the job page's outputs, the download, and the models page."""

from __future__ import annotations

import zipfile

import pytest
from playwright.sync_api import expect

from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.services import job_create
from finetune_portal.jobs.states import JobStatus
from tests.factories import make_dataset, make_version
from tests.providers.peft.helpers import FAST_SFT, chat_jsonl

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_member_downloads_the_adapter_of_a_finished_local_run(
    page, cast, log_in, screenshot, settings, tmp_path, broker
):
    from finetune_portal.providers.peft.tasks import job_train_task

    settings.PEFT_MODEL_CACHE = tmp_path / "models"
    settings.PEFT_WORK_DIR = tmp_path / "runs"
    dataset = make_dataset(cast.project, name="colours", kind="chat")
    train = make_version(dataset, content=chat_jsonl(range(50)), example_count=50)
    job = job_create(
        project=cast.project,
        created_by=cast.member,
        name="tiny colours",
        provider="local_peft",
        base_model="demo:tiny",
        training_version=train,
        hyperparameters=FAST_SFT,
    )
    FineTuningJob.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED)
    assert job_train_task.apply(args=(job.pk,)).get() == "succeeded"

    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/{job.pk}/")
    outputs = page.locator("#job-outputs")
    expect(outputs.get_by_test_id("fine-tuned-model")).to_contain_text("LoRA adapter on demo:tiny")
    expect(outputs.locator(".checkpoints-table tbody tr")).to_have_count(2)  # steps 15 and 30
    outputs.scroll_into_view_if_needed()
    screenshot("local-job-outputs")

    with page.expect_download() as download_info:
        outputs.get_by_role("link", name="Download adapter (.zip)").click()
    download = download_info.value
    assert download.suggested_filename == f"tiny-colours-{job.pk}-adapter.zip"
    saved = tmp_path / "adapter.zip"
    download.save_as(saved)
    with zipfile.ZipFile(saved) as bundle:
        names = bundle.namelist()
    root = f"tiny-colours-{job.pk}-adapter"
    assert f"{root}/adapter_model.safetensors" in names
    assert f"{root}/adapter_config.json" in names
    assert f"{root}/chat_template.jinja" in names

    page.get_by_role("link", name="All models").click()
    row = page.locator("tr[data-model]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("tiny colours")
    expect(row).to_contain_text("colours v1")
    screenshot("models-page")

    row.get_by_role("link", name="colours v1").click()
    jobs = page.locator("#version-jobs")
    expect(jobs).to_contain_text("tiny colours")
    expect(jobs).to_contain_text("training data")
    jobs.scroll_into_view_if_needed()
    screenshot("dataset-version-lineage")

    # The same pages on a phone: nothing wider than the screen (tables scroll inside their frame).
    page.set_viewport_size({"width": 390, "height": 844})
    for name, url in [
        ("models-page-phone", f"/p/{cast.project.slug}/models/"),
        ("local-job-outputs-phone", f"/p/{cast.project.slug}/jobs/{job.pk}/"),
        ("dataset-version-lineage-phone", f"/p/{cast.project.slug}/datasets/{dataset.pk}/v/1/"),
    ]:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        screenshot(name)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, name

    # Run it again with one thing changed: the launch form opens with the job's settings.
    page.set_viewport_size({"width": 1280, "height": 860})
    page.goto(f"/p/{cast.project.slug}/jobs/{job.pk}/")
    page.get_by_role("button", name="New job from these settings").click()
    expect(page.get_by_test_id("copied-from")).to_contain_text("tiny colours")
    expect(page.locator("#id_name")).to_have_value("tiny colours (copy)")
    expect(page.locator("#id_max_steps")).to_have_value("30")
    screenshot("new-job-from-settings")

    # Or go on training from one of its checkpoints.
    page.goto(f"/p/{cast.project.slug}/jobs/{job.pk}/")
    page.locator(".checkpoints-table tr", has_text="15").get_by_role(
        "link", name="Continue from here"
    ).click()
    expect(page.locator("#id_start_from_checkpoint option:checked")).to_have_text(
        f"#{job.pk} tiny colours · step 15"
    )
    page.locator("#id_start_from_checkpoint").scroll_into_view_if_needed()
    screenshot("continue-from-checkpoint")
    page.get_by_role("button", name="Launch").click()
    page.get_by_text("tiny colours (copy) is queued").wait_for()
    again = FineTuningJob.objects.get(name="tiny colours (copy)")
    assert job_train_task.apply(args=(again.pk,)).get() == "succeeded"
    page.reload()
    expect(page.locator("#job-events")).to_contain_text(f"Continuing from job #{job.pk} at step 15.")
