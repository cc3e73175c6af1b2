"""An answer, edited if need be, becomes a new version of a chat dataset: the latest valid version's
lines plus one example, that version its parent. One click makes one version, however often it arrives."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from django.db import connection
from django.urls import reverse

from finetune_portal.datasets.models import DatasetVersion, VersionStatus
from finetune_portal.inference.models import ChatAnswer
from finetune_portal.playground.models import DatasetAddition
from tests.factories import PASSWORD, make_dataset, make_version

LINES = (
    b'{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n'
    b'{"messages": [{"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}'
)
URL = reverse("playground:add_to_dataset", args=["bank-reviews"])


@pytest.fixture
def answer(cast, scripted, adapter):
    return ChatAnswer.objects.create(
        project=cast.project,
        user=cast.member,
        source="playground",
        model_name=adapter.name,
        provider=adapter.provider,
        messages=[{"role": "user", "content": "Refund window?"}],
        settings={"system_prompt": "Be brief.", "stop": []},
        output="30 dayz.",
    )


@pytest.fixture
def dataset(cast):
    dataset = make_dataset(cast.project, name="Support chats")
    make_version(dataset, content=LINES, status=VersionStatus.VALID)
    make_version(dataset, content=b'{"broken": true}\n', status=VersionStatus.INVALID)
    return dataset


def _add(client, user, answer, dataset, *, key=None, content="30 days."):
    client.login(username=user.username, password=PASSWORD)
    body = {
        "answer_id": answer.pk,
        "dataset_id": dataset.pk,
        "content": content,
        "key": str(key or uuid.uuid4()),
    }
    return client.post(URL, data=json.dumps(body), content_type="application/json")


def _lines(version: DatasetVersion) -> list[bytes]:
    with version.file.open("rb") as handle:
        return handle.read().splitlines()


@pytest.mark.django_db
def test_the_edited_answer_is_appended_to_the_latest_valid_version_as_a_new_version(
    client, cast, answer, dataset, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as validations:
        response = _add(client, cast.member, answer, dataset)

    assert response.status_code == 201
    version = dataset.versions.get(number=3)
    assert response.json()["url"] == reverse("datasets:version", args=["bank-reviews", dataset.pk, 3])
    assert version.parent == dataset.versions.get(number=1)  # the valid one, not the invalid v2
    assert version.status == VersionStatus.UPLOADED  # validated as usual
    assert len(validations) == 1
    lines = _lines(version)
    assert lines[:2] == LINES.splitlines()
    assert json.loads(lines[2]) == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Refund window?"},
            {"role": "assistant", "content": "30 days."},
        ]
    }
    assert len(lines) == 3
    assert dataset.versions.get(number=1).file.read() == LINES  # versions stay as they were


@pytest.mark.django_db
def test_the_same_click_again_returns_the_first_version_even_once_it_is_valid(client, cast, answer, dataset):
    key = uuid.uuid4()
    first = _add(client, cast.member, answer, dataset, key=key)
    DatasetVersion.objects.filter(number=3).update(status=VersionStatus.VALID)

    second = _add(client, cast.member, answer, dataset, key=key)

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["message"].startswith("Already added as Support chats v3")
    assert dataset.versions.count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_submits_of_one_click_arriving_at_once_make_one_version(cast, answer, dataset):
    from django.test import Client

    key = uuid.uuid4()
    results: list[int] = []
    start = threading.Barrier(2)

    def submit() -> None:
        try:
            start.wait()
            results.append(_add(Client(), cast.member, answer, dataset, key=key).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [200, 201]
    assert dataset.versions.count() == 3
    assert DatasetAddition.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no_valid_version", "has no valid version yet"),
        ("not_chat", "is not a chat dataset"),
        ("empty", "The answer to add is empty."),
        ("other_project", "Pick one of this project's datasets."),
    ],
)
def test_an_answer_that_cannot_be_added_says_why_and_adds_nothing(client, cast, answer, setup, message):
    content = "30 days."
    if setup == "no_valid_version":
        dataset = make_dataset(cast.project, name="Fresh")
        make_version(dataset, status=VersionStatus.VALIDATING)
    elif setup == "not_chat":
        dataset = make_dataset(cast.project, name="Prefs", kind="dpo")
        make_version(dataset, status=VersionStatus.VALID)
    elif setup == "other_project":
        dataset = make_dataset(cast.other_project, name="Theirs")
        make_version(dataset, status=VersionStatus.VALID)
    else:
        dataset = make_dataset(cast.project, name="Chats")
        make_version(dataset, content=LINES, status=VersionStatus.VALID)
        content = "   "
    before = DatasetVersion.objects.count()

    response = _add(client, cast.member, answer, dataset, content=content)

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert DatasetVersion.objects.count() == before
    assert not DatasetAddition.objects.exists()


@pytest.mark.django_db
def test_an_outsider_cannot_add_this_projects_answers(client, cast, answer, dataset):
    assert _add(client, cast.outsider, answer, dataset).status_code == 404
    assert dataset.versions.count() == 2
