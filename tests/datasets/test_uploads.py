"""Taking an uploaded file: what is refused, with a message, before anything is stored."""

from __future__ import annotations

import pytest

from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.models import DatasetVersion
from tests.datasets.samples import chats, lines_of, stored_files, upload
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("train.txt", b"{}\n", "is not a .jsonl or .csv file"),
        ("train.jsonl", b"", "is empty"),
    ],
)
def test_bad_uploads_get_a_clear_message_and_store_nothing(cast, settings, name, content, message):
    dataset = make_dataset(cast.project)
    with pytest.raises(DatasetInputError, match=message):
        upload(dataset, cast.member, content, name=name)
    assert not DatasetVersion.objects.exists()
    assert stored_files(settings.MEDIA_ROOT) == []


def test_an_upload_over_the_limit_is_refused(cast, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 100
    dataset = make_dataset(cast.project)
    with pytest.raises(DatasetInputError, match="larger than the upload limit"):
        upload(dataset, cast.member, lines_of(chats(12)))
    assert stored_files(settings.MEDIA_ROOT) == []
