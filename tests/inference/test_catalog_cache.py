"""/v1 remembers the models it found for a few seconds, and forgets them as soon as they change."""

from __future__ import annotations

import pytest

from finetune_portal.inference import catalog_cache
from finetune_portal.inference.catalog_cache import served_model_remembered
from finetune_portal.registry.models import ModelStatus
from finetune_portal.registry.services import fine_tuned_model_delete
from tests.inference import chat_provider
from tests.inference.test_catalog import _local_model

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("scripted")]


def test_a_model_found_once_is_answered_again_without_a_query(cast, django_assert_num_queries):
    model = _local_model(cast.project)
    name = served_model_remembered(cast.project, chat_provider.BASE)
    tuned = served_model_remembered(
        cast.project, f"ft:{model.base_model}:bank-reviews:support:job-{model.job_id}"
    )
    assert name is not None
    assert tuned is not None

    with django_assert_num_queries(0):
        assert served_model_remembered(cast.project, chat_provider.BASE) == name
        assert served_model_remembered(cast.project, f" {tuned.name} ") == tuned


def test_a_deleted_model_is_forgotten_at_once(cast):
    model = _local_model(cast.project)
    name = f"ft:{model.base_model}:bank-reviews:support:job-{model.job_id}"
    assert served_model_remembered(cast.project, name) is not None

    fine_tuned_model_delete(model=model, actor=cast.admin)

    assert served_model_remembered(cast.project, name) is None


def test_a_name_not_found_is_not_remembered_so_a_new_model_answers_at_once(cast):
    model = _local_model(cast.project)
    type(model).objects.filter(pk=model.pk).update(status=ModelStatus.DELETED)
    name = f"ft:{model.base_model}:bank-reviews:support:job-{model.job_id}"
    assert served_model_remembered(cast.project, name) is None

    # Made available by another process (a worker), which cannot make this one forget anything.
    type(model).objects.filter(pk=model.pk).update(status=ModelStatus.AVAILABLE)

    assert served_model_remembered(cast.project, name) is not None


def test_what_was_found_is_kept_per_project_and_only_for_a_few_seconds(cast, monkeypatch):
    model = _local_model(cast.project)
    name = f"ft:{model.base_model}:bank-reviews:support:job-{model.job_id}"
    assert served_model_remembered(cast.project, name) is not None
    assert served_model_remembered(cast.other_project, name) is None

    # Changed by another process, which cannot make this one forget: seen once the time is up.
    type(model).objects.filter(pk=model.pk).update(status=ModelStatus.DELETED)
    assert served_model_remembered(cast.project, name) is not None
    later = catalog_cache.time.monotonic() + catalog_cache.KEEP_SECONDS + 1
    monkeypatch.setattr(catalog_cache.time, "monotonic", lambda: later)
    assert served_model_remembered(cast.project, name) is None
