"""What a run reads from and writes to shared storage."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from finetune_portal.jobs.states import JobStatus
from tests.providers.peft.helpers import run_queued_job

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_dataset_file_changed_in_storage_is_refused(cast, chat_versions):
    train, _ = chat_versions
    with default_storage.open(train.file.name, "wb") as handle:
        handle.write(b'{"messages": []}\n')

    job, _ = run_queued_job(cast, versions=chat_versions)

    assert job.status == JobStatus.FAILED
    assert "does not match its checksum" in job.error_message
