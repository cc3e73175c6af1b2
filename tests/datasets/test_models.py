from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from finetune_portal.datasets.models import VersionStatus
from tests.factories import make_dataset, make_project, make_version


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [("sha256", "0" * 64), ("byte_size", 1), ("number", 99), ("split_role", "validation")],
)
def test_a_versions_identity_cannot_change(field, value):
    version = make_version(make_dataset(make_project()))
    setattr(version, field, value)
    with pytest.raises(ValidationError, match="immutable"):
        version.save()


@pytest.mark.django_db
def test_a_versions_file_cannot_be_swapped():
    version = make_version(make_dataset(make_project()))
    version.file.name = "datasets/elsewhere.jsonl"
    with pytest.raises(ValidationError, match="file"):
        version.save()


@pytest.mark.django_db
def test_validation_outcome_may_still_be_recorded():
    version = make_version(make_dataset(make_project()), status=VersionStatus.UPLOADED)
    version.status = VersionStatus.VALID
    version.example_count = 12
    version.validation_report = {"valid": True}
    version.save()
    version.refresh_from_db()
    assert (version.status, version.example_count) == ("valid", 12)


@pytest.mark.django_db
def test_the_same_bytes_are_one_version_per_dataset():
    dataset = make_dataset(make_project())
    make_version(dataset, content=b'{"a": 1}\n')
    with pytest.raises(IntegrityError), transaction.atomic():
        make_version(dataset, content=b'{"a": 1}\n', number=2)


@pytest.mark.django_db
def test_dataset_names_are_unique_within_a_project_only():
    first, second = make_project(), make_project()
    make_dataset(first, name="reviews")
    make_dataset(second, name="reviews")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_dataset(first, name="reviews")
