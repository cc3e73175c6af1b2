from __future__ import annotations

import json

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from finetune_portal.datasets.models import Dataset, DatasetVersion
from finetune_portal.datasets.versions import dataset_version_validate
from tests.celery_support import DEAD_BROKER, broker_for_test
from tests.datasets.samples import chat, chats, lines_of
from tests.factories import PASSWORD, make_dataset, make_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(client, cast):
    client.login(username=cast.member.username, password=PASSWORD)
    return client


def upload_url(dataset):
    return reverse("datasets:upload", args=[dataset.project.slug, dataset.pk])


def version_url(version, name="datasets:version"):
    return reverse(name, args=[version.dataset.project.slug, version.dataset_id, version.number])


def stored_files(root):
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_member_creates_a_dataset_and_lands_on_its_upload_page(member_client, cast):
    response = member_client.post(
        reverse("datasets:new", args=[cast.project.slug]), {"name": "Bank reviews", "kind": "chat"}
    )
    dataset = Dataset.objects.get(name="Bank reviews")
    assert response.status_code == 302
    assert response["Location"] == upload_url(dataset)
    assert dataset.created_by == cast.member

    again = member_client.post(
        reverse("datasets:new", args=[cast.project.slug]), {"name": "Bank reviews", "kind": "chat"}
    )
    assert again.status_code == 400
    assert "already has a dataset named" in again.content.decode()


def test_uploading_jsonl_creates_a_version_and_validates_it(
    member_client, cast, eager_celery, django_capture_on_commit_callbacks
):
    dataset = make_dataset(cast.project)
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(
            upload_url(dataset),
            {"file": SimpleUploadedFile("reviews.jsonl", lines_of(chats(12))), "target": "openai"},
        )
    version = DatasetVersion.objects.get(dataset=dataset)
    assert response.status_code == 302
    assert response["Location"] == version_url(version)
    assert version.status == "valid"
    assert version.original_filename == "reviews.jsonl"

    page = member_client.get(version_url(version)).content.decode()
    assert "12 chat example" in page
    assert "ready to train on" in page


def test_an_upload_while_the_task_queue_is_down_keeps_the_version_and_its_file(
    member_client, cast, django_capture_on_commit_callbacks
):
    from finetune_portal.celery import app

    dataset = make_dataset(cast.project)
    with broker_for_test(app, DEAD_BROKER), django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(
            upload_url(dataset),
            {"file": SimpleUploadedFile("reviews.jsonl", lines_of(chats(12))), "target": "openai"},
        )

    version = DatasetVersion.objects.get(dataset=dataset)
    assert response.status_code == 302
    assert version.status == "uploaded"  # the beat task that resumes lost validations sends it later
    with default_storage.open(version.file.name, "rb") as handle:
        assert handle.read() == lines_of(chats(12))
    assert "Waiting for a worker to validate" in member_client.get(version_url(version)).content.decode()


def test_the_browser_upload_gets_json_back(member_client, cast):
    dataset = make_dataset(cast.project)
    headers = {"X-Requested-With": "XMLHttpRequest"}
    ok = member_client.post(
        upload_url(dataset),
        {"file": SimpleUploadedFile("a.jsonl", lines_of(chats(3))), "target": "openai"},
        headers=headers,
    )
    bad = member_client.post(
        upload_url(dataset), {"file": SimpleUploadedFile("a.exe", b"MZ"), "target": "openai"}, headers=headers
    )
    assert ok.json() == {"redirect": version_url(DatasetVersion.objects.get())}
    assert bad.status_code == 400
    assert "is not a .jsonl or .csv file" in bad.json()["error"]


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("reviews.xlsx", b"PK\x03\x04", "reviews.xlsx is not a .jsonl or .csv file"),
        ("reviews.jsonl", b"", "The submitted file is empty."),
        ("reviews.jsonl", b"x" * 2048, "larger than the upload limit"),
    ],
)
def test_bad_uploads_show_a_message_and_save_nothing(
    member_client, cast, settings, filename, content, message
):
    settings.DATASET_MAX_UPLOAD_BYTES = 1024
    dataset = make_dataset(cast.project)

    response = member_client.post(upload_url(dataset), {"file": SimpleUploadedFile(filename, content)})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not DatasetVersion.objects.exists()
    assert stored_files(settings.MEDIA_ROOT) == []


def test_a_dataset_of_another_project_is_not_found(member_client, cast, settings):
    foreign = make_dataset(cast.other_project)
    response = member_client.post(upload_url(foreign), {"file": SimpleUploadedFile("a.jsonl", b"{}\n")})
    assert response.status_code == 404
    assert stored_files(settings.MEDIA_ROOT) == []
    mine_with_foreign_id = reverse("datasets:upload", args=[cast.project.slug, foreign.pk])
    assert member_client.get(mine_with_foreign_id).status_code == 404


CSV = b"review,sentiment\n" + b"".join(
    b"Great app %d,positive\nSlow transfer %d,negative\n" % (i, i) for i in range(6)
)


def test_a_csv_upload_goes_through_the_column_mapping(member_client, cast):
    dataset = make_dataset(cast.project)
    response = member_client.post(upload_url(dataset), {"file": SimpleUploadedFile("reviews.csv", CSV)})
    assert response.status_code == 302
    mapping_url = response["Location"]
    page = member_client.get(mapping_url).content.decode()
    assert "<th>review</th>" in page
    assert "Great app 0" in page

    missing = member_client.post(mapping_url, {"prompt_column": "review", "answer_column": "label"})
    assert missing.status_code == 400
    assert "The CSV has no column label." in missing.content.decode()
    same = member_client.post(mapping_url, {"prompt_column": "review", "answer_column": "review"})
    assert "two different columns" in same.content.decode()
    assert not DatasetVersion.objects.exists()

    done = member_client.post(
        mapping_url, {"prompt_column": "review", "answer_column": "sentiment", "system_prompt": "Classify."}
    )
    version = DatasetVersion.objects.get()
    assert done["Location"] == version_url(version)
    first = json.loads(default_storage.open(version.file.name).readline())
    assert first["messages"][0] == {"role": "system", "content": "Classify."}
    assert version.original_filename == "reviews.csv"


def test_a_malformed_csv_is_refused_on_the_mapping_page(member_client, cast, settings):
    dataset = make_dataset(cast.project)
    content = b"review,sentiment\nfine,positive\nbroken\n"
    response = member_client.post(upload_url(dataset), {"file": SimpleUploadedFile("bad.csv", content)})
    result = member_client.post(
        response["Location"], {"prompt_column": "review", "answer_column": "sentiment"}
    )
    assert result.status_code == 400
    assert "malformed at line 3" in result.content.decode()
    assert not DatasetVersion.objects.exists()


def test_validation_progress_polls_until_the_verdict_then_stops(member_client, cast):
    dataset = make_dataset(cast.project)
    version = make_version(dataset, content=lines_of([*chats(10), "broken"]), status="uploaded")
    DatasetVersion.objects.filter(pk=version.pk).update(
        status="validating", validation_lines_read=7, validation_errors_so_far=0
    )
    htmx = {"HX-Request": "true", "HX-Target": "version-status"}

    live = member_client.get(version_url(version), headers=htmx)
    assert live.status_code == 200
    body = live.content.decode()
    assert 'hx-trigger="every 1s"' in body
    assert "7</span> lines read" in body
    assert "<h2>Examples</h2>" not in body  # only the fragment

    dataset_version_validate(version_id=version.pk)
    done = member_client.get(version_url(version), headers=htmx)
    assert done.status_code == 286
    body = done.content.decode()
    assert "hx-trigger" not in body
    assert 'data-line="11"' in body
    assert "Line 11" in body
    assert "a job cannot use it" in body


def test_the_preview_pages_and_searches_examples(member_client, cast):
    dataset = make_dataset(cast.project)
    examples = [chat(user=f"Question {i}", answer=f"Answer {i}") for i in range(25)]
    version = make_version(dataset, content=lines_of(examples))

    first = member_client.get(version_url(version)).content.decode()
    second = member_client.get(
        version_url(version), {"page": 2}, headers={"HX-Request": "true", "HX-Target": "preview"}
    )
    found = member_client.get(version_url(version), {"q": "answer 17"}).content.decode()

    assert "Question 0" in first
    assert "Question 9" in first
    assert "Question 10" not in first
    assert 'class="bubble bubble-user"' in first
    assert "Question 10" in second.content.decode()
    assert "Question 20" not in second.content.decode()
    assert "<h1>" not in second.content.decode()
    assert 'data-line="18"' in found
    assert "Question 3<" not in found


def test_any_version_can_be_downloaded(member_client, cast):
    dataset = make_dataset(cast.project, name="Reviews")
    version = make_version(dataset, content=b"not json at all\n", status="invalid")
    response = member_client.get(version_url(version, "datasets:download"))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"not json at all\n"
    assert 'filename="Reviews-v1.jsonl"' in response["Content-Disposition"]


def test_split_and_convert_from_the_version_page(member_client, cast):
    dataset = make_dataset(cast.project, kind="completion")
    version = make_version(
        dataset,
        content=lines_of([{"prompt": f"Q{i}", "completion": "yes" if i % 2 else "no"} for i in range(20)]),
    )
    DatasetVersion.objects.filter(pk=version.pk).update(status="uploaded")
    dataset_version_validate(version_id=version.pk)

    split = member_client.post(version_url(version, "datasets:split"), {"validation_percent": 20, "seed": 3})
    converted = member_client.post(version_url(version, "datasets:convert"))

    assert split.status_code == 302
    assert list(dataset.versions.values_list("split_role", flat=True)) == ["validation", "train", "train"]
    chat_dataset = Dataset.objects.get(name=f"{dataset.name} (chat)")
    assert converted["Location"] == version_url(chat_dataset.versions.get())


def test_an_invalid_version_offers_no_split(member_client, cast):
    dataset = make_dataset(cast.project)
    version = make_version(dataset, content=b"nope\n", status="invalid")
    page = member_client.get(version_url(version)).content.decode()
    assert "Split train / validation" not in page
    response = member_client.post(
        version_url(version, "datasets:split"), {"validation_percent": 20, "seed": 3}
    )
    assert response.status_code == 302
    assert dataset.versions.count() == 1


def test_the_diff_counts_added_removed_and_changed_examples(member_client, cast):
    dataset = make_dataset(cast.project)
    old = make_version(
        dataset, content=lines_of([chat(user="a"), chat(user="b"), chat(user="c", answer="x")])
    )
    new = make_version(
        dataset, content=lines_of([chat(user="a"), chat(user="c", answer="y"), chat(user="d")])
    )
    page = member_client.get(
        reverse("datasets:diff", args=[cast.project.slug, dataset.pk]), {"old": old.number, "new": new.number}
    ).content.decode()
    assert 'data-count="added">1<' in page
    assert 'data-count="removed">1<' in page
    assert 'data-count="changed">1<' in page
    assert 'data-count="unchanged">1<' in page


def test_the_version_page_lists_the_jobs_trained_with_it_and_their_models(member_client, cast):
    from finetune_portal.registry.models import FineTunedModel
    from tests.factories import make_job

    dataset = make_dataset(cast.project)
    version = make_version(dataset, content=lines_of(chats(12)))
    trained = make_job(cast.project, status="succeeded", name="support v1", training_version=version)
    FineTunedModel.objects.create(job=trained, provider_model_id="ft:gpt-4o-mini:acme::abc", base_model="m")
    validated = make_job(cast.project, status="running", name="support v2", validation_version=version)
    make_job(cast.project, name="unrelated")

    page = member_client.get(version_url(version)).content.decode()

    section = page[page.index('id="version-jobs"') :]
    assert "support v1" in section
    assert "training data" in section
    assert "ft:gpt-4o-mini:acme::abc" in section
    assert validated.name in section
    assert "validation data" in section
    assert "unrelated" not in section
