"""A CSV upload mapped to chat: staged, its header read, converted; malformed files get a clear message."""

from __future__ import annotations

import json

import pytest
from django.core.files.storage import default_storage

from finetune_portal.datasets.csv_import import csv_convert, csv_header
from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.models import DatasetVersion
from tests.datasets.samples import stored_files, upload
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db


BANK_CSV = (
    "review,sentiment,stars\n"
    + "".join(
        f'"Review {i}, with a comma",{"negative" if i % 3 == 0 else "positive"},{i % 5}\n' for i in range(30)
    )
).encode()


def test_a_csv_of_bank_reviews_converts_to_chat_with_a_system_prompt(cast, settings):
    dataset = make_dataset(cast.project)
    kind, token, _ = upload(dataset, cast.member, BANK_CSV, name="reviews.csv")
    assert kind == "csv"
    header, sample = csv_header(dataset=dataset, token=token)
    assert header == ["review", "sentiment", "stars"]
    assert sample[0] == ["Review 0, with a comma", "negative", "0"]

    version, _ = csv_convert(
        dataset=dataset,
        token=token,
        prompt_column="review",
        answer_column="sentiment",
        system_prompt="Classify the sentiment of a bank review.",
        user=cast.member,
        original_filename="reviews.csv",
    )

    lines = default_storage.open(version.file.name).read().splitlines()
    assert len(lines) == 30
    assert json.loads(lines[1]) == {
        "messages": [
            {"role": "system", "content": "Classify the sentiment of a bank review."},
            {"role": "user", "content": "Review 1, with a comma"},
            {"role": "assistant", "content": "positive"},
        ]
    }
    assert "user=review, assistant=sentiment" in version.note
    # The staged CSV is gone; only the version's file remains.
    assert stored_files(settings.MEDIA_ROOT) == [version.file.name]


def test_a_mapping_that_names_a_missing_column_is_refused(cast):
    dataset = make_dataset(cast.project)
    _, token, _ = upload(dataset, cast.member, BANK_CSV, name="reviews.csv")
    expected = "no column 'label'; its columns are review, sentiment, stars"
    with pytest.raises(DatasetInputError, match=expected):
        csv_convert(
            dataset=dataset, token=token, prompt_column="review", answer_column="label", user=cast.member
        )
    assert not DatasetVersion.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"review,sentiment\n" + b'"unterminated,positive\n' * 2 + b"a,b,c\n", "malformed"),
        (b"review,sentiment\ngood,positive\nbad\n", "malformed at line 3: 1 field"),
        (b"review,sentiment\n\xff\xfe broken,x\n", "not UTF-8"),
    ],
)
def test_a_malformed_csv_gets_a_clear_message(cast, settings, content, message):
    dataset = make_dataset(cast.project)

    def stage_and_convert():
        _, token, _ = upload(dataset, cast.member, content, name="bad.csv")
        csv_convert(
            dataset=dataset, token=token, prompt_column="review", answer_column="sentiment", user=cast.member
        )

    with pytest.raises(DatasetInputError, match=message):
        stage_and_convert()
    assert not DatasetVersion.objects.exists()


def test_a_csv_without_a_header_is_refused_and_not_kept(cast, settings):
    dataset = make_dataset(cast.project)
    with pytest.raises(DatasetInputError, match="no header"):
        upload(dataset, cast.member, b"\n\n", name="blank.csv")
    assert stored_files(settings.MEDIA_ROOT) == []
