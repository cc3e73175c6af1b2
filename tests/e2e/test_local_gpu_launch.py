"""Launching a local GPU job from the browser: the form, its live memory estimate, and the launch."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.providers.peft.models import WorkerNode
from tests.factories import make_dataset, make_version
from tests.providers.peft.helpers import chat_jsonl

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_member_launches_a_tiny_demo_job_and_sees_the_memory_warning(
    page, cast, log_in, screenshot, broker
):
    dataset = make_dataset(cast.project, name="colours", kind="chat")
    make_version(dataset, content=chat_jsonl(range(50)), example_count=50)
    make_version(
        dataset, content=chat_jsonl(range(50, 60)), example_count=10, split_role="validation", number=2
    )
    now = timezone.now()
    WorkerNode.objects.create(
        hostname="gpu-a",
        queues=["gpu"],
        gpu_name="NVIDIA L4",
        gpu_count=1,
        gpu_memory_bytes=24 * 1024**3,
        bf16_supported=True,
        started_at=now,
        last_seen_at=now,
    )

    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/new/?provider=local_peft")
    expect(page.get_by_label("Base model")).to_have_value("demo:tiny")
    expect(page.locator("#peft-estimate")).to_contain_text("It fits.")
    screenshot("local-gpu-job-form")

    page.get_by_label("Base model").fill("meta-llama/Llama-3.1-8B-Instruct")
    page.locator("#id_adapter").select_option("full")
    expect(page.get_by_test_id("memory-warning")).to_contain_text("This will not fit")
    screenshot("local-gpu-job-form-too-big")

    page.get_by_label("Base model").fill("demo:tiny")
    page.locator("#id_adapter").select_option("lora")
    expect(page.locator("#peft-estimate")).to_contain_text("It fits.")
    page.get_by_label("Training data").select_option(label="colours v1 (Chat (SFT), 50 examples)")
    page.get_by_label("Validation data").select_option(
        label="colours v2 (Chat (SFT), 10 examples) · validation split"
    )
    page.locator("#id_name").fill("tiny colours")
    page.locator("#id_learning_rate").fill("0.005")
    page.get_by_role("button", name="Launch").click()

    expect(page.get_by_text("tiny colours").first).to_be_visible()
    job = FineTuningJob.objects.get(name="tiny colours")
    assert job.provider == "local_peft"
    assert job.status == "queued"
    assert job.hyperparameters["learning_rate"] == 0.005
    assert job.validation_version.number == 2
