from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import expect

from finetune_portal.celery import app as celery_app
from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.datasets.uploads import dataset_upload
from tests.datasets.samples import chat, lines_of
from tests.factories import make_dataset

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BROKEN_LINE = 7


@pytest.fixture
def eager_celery():
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def reviews_with_one_broken_line(count: int) -> bytes:
    examples = [
        chat(user=f"Review {i}: the mobile app is quick and the fees are fair.", answer="positive")
        for i in range(count)
    ]
    examples[BROKEN_LINE - 1] = '{"messages": [{"role": "user", "content": "unterminated'
    return lines_of(examples)


def test_a_member_uploads_watches_progress_and_sees_the_first_error(page, cast, log_in, screenshot, tmp_path):
    dataset = make_dataset(cast.project, name="Bank reviews chat")
    path = tmp_path / "reviews.jsonl"
    path.write_bytes(reviews_with_one_broken_line(6000))  # about 1 MB

    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/datasets/{dataset.pk}/upload/")
    expect(page.get_by_text("Drop a .jsonl or .csv file here")).to_be_visible()
    page.set_input_files("input[type=file]", str(path))
    expect(page.locator("#chosen-file")).to_contain_text("reviews.jsonl")
    screenshot("dataset-upload")

    # Slow the upload down so the progress bar has something to show.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 400 * 1024},
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-status")).to_contain_text("Uploading…")
    page.wait_for_function("document.getElementById('upload-bar').value > 0")
    screenshot("dataset-upload-progress")

    page.wait_for_url("**/v/1/")
    status = page.locator("#version-status")
    expect(status).to_contain_text("Waiting for a worker")
    screenshot("dataset-version-waiting")

    # A real worker picks the validation up; the page polls until the verdict replaces the progress.
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        expect(page.locator("#verdict")).to_be_visible(timeout=30_000)
    expect(page.locator("#verdict")).to_contain_text("1 error in 6,000 examples")
    first_error = page.locator("#errors li").first
    expect(first_error).to_contain_text(f"Line {BROKEN_LINE}")
    expect(first_error).to_have_attribute("data-line", str(BROKEN_LINE))
    expect(page.locator("#version-status")).not_to_have_attribute("hx-trigger", "every 1s")
    screenshot("dataset-version-invalid")
    assert DatasetVersion.objects.get(dataset=dataset).status == "invalid"


def test_the_dataset_pages_render_for_a_member(page, cast, log_in, screenshot, eager_celery):
    from django.core.files.uploadedfile import SimpleUploadedFile

    dataset = make_dataset(cast.project, name="Support chat")
    examples = [
        chat(user=f"How do I close account {i}?", answer="positive" if i % 4 else "negative")
        for i in range(40)
    ]
    dataset_upload(
        dataset=dataset,
        uploaded_file=SimpleUploadedFile("support.jsonl", lines_of(examples)),
        user=cast.member,
    )
    dataset_upload(
        dataset=dataset,
        uploaded_file=SimpleUploadedFile("support-2.jsonl", lines_of([*examples[:30], chat(user="New?")])),
        user=cast.member,
    )
    assert [v.status for v in DatasetVersion.objects.order_by("number")] == ["valid", "valid"]

    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/datasets/new/")
    expect(page.get_by_role("heading", name="New dataset")).to_be_visible()
    screenshot("dataset-new")

    page.goto(f"/p/{cast.project.slug}/datasets/{dataset.pk}/")
    expect(page.locator("#versions tr[data-version]")).to_have_count(2)
    screenshot("dataset-detail")

    page.goto(f"/p/{cast.project.slug}/datasets/{dataset.pk}/v/1/")
    expect(page.locator("#verdict")).to_contain_text("ready to train on")
    expect(page.locator("#labels")).to_contain_text("negative")
    expect(page.locator(".bubble-user").first).to_contain_text("How do I close account 0?")
    page.get_by_label("Search examples").fill("account 13")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("article.example")).to_have_count(1)
    expect(page.locator("article.example")).to_contain_text("Line 14")
    page.goto(f"/p/{cast.project.slug}/datasets/{dataset.pk}/v/1/")
    screenshot("dataset-version-valid")

    page.goto(f"/p/{cast.project.slug}/datasets/{dataset.pk}/diff/?old=1&new=2")
    expect(page.locator("[data-count=removed]")).to_have_text("10")
    screenshot("dataset-diff")

    csv = b"review,sentiment\n" + b"".join(b"Card blocked again %d,negative\n" % i for i in range(12))
    _, token, _ = dataset_upload(
        dataset=dataset, uploaded_file=SimpleUploadedFile("reviews.csv", csv), user=cast.member
    )
    page.goto(f"/p/{cast.project.slug}/datasets/{dataset.pk}/csv/{token}/?name=reviews.csv")
    expect(page.locator("#csv-sample")).to_contain_text("Card blocked again 0")
    screenshot("dataset-csv-mapping")


def test_a_file_dropped_on_the_page_is_uploaded(page, cast, log_in, eager_celery):
    dataset = make_dataset(cast.project, name="Dropped reviews")
    content = lines_of([chat(user=f"Dropped review {i}", answer="neutral") for i in range(12)]).decode()

    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/datasets/{dataset.pk}/upload/")
    page.evaluate(
        """(text) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], "dropped.jsonl", {type: "application/jsonl"}));
            const zone = document.getElementById("drop-zone");
            zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true}));
        }""",
        content,
    )
    expect(page.locator("#chosen-file")).to_contain_text("dropped.jsonl")
    page.get_by_role("button", name="Upload", exact=True).click()

    page.wait_for_url("**/v/1/")
    expect(page.locator("#verdict")).to_contain_text("12 chat examples, ready to train on.")
    assert DatasetVersion.objects.get(dataset=dataset).original_filename == "dropped.jsonl"


def test_a_wrong_file_type_is_refused_on_the_page(page, cast, log_in, tmp_path):
    dataset = make_dataset(cast.project, name="Spreadsheets")
    path = tmp_path / "reviews.xlsx"
    path.write_bytes(b"PK\x03\x04 not a dataset")

    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/datasets/{dataset.pk}/upload/")
    page.set_input_files("input[type=file]", str(path))
    page.get_by_role("button", name="Upload", exact=True).click()

    expect(page.locator("#upload-error")).to_contain_text("reviews.xlsx is not a .jsonl or .csv file")
    expect(page.get_by_role("button", name="Upload", exact=True)).to_be_enabled()
    assert not DatasetVersion.objects.exists()
