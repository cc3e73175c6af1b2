"""Small builders for test data; each returns a saved object with sensible defaults."""

from __future__ import annotations

import hashlib
import itertools

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

PASSWORD = "correct-horse-battery-staple"
_counter = itertools.count(1)


def make_user(username: str, *, is_superuser: bool = False):
    User = get_user_model()
    if is_superuser:
        return User.objects.create_superuser(
            username=username, password=PASSWORD, email=f"{username}@example.com"
        )
    return User.objects.create_user(username=username, password=PASSWORD, email=f"{username}@example.com")


def make_project(name: str = "Project", slug: str | None = None):
    from finetune_portal.projects.models import Project

    return Project.objects.create(name=name, slug=slug or f"project-{next(_counter)}")


def make_dataset(project, *, name: str | None = None, kind: str = "chat", created_by=None):
    from finetune_portal.datasets.models import Dataset

    return Dataset.objects.create(
        project=project, name=name or f"dataset-{next(_counter)}", kind=kind, created_by=created_by
    )


def make_version(
    dataset, *, content: bytes | None = None, status: str = "valid", number: int | None = None, **extra
):
    from finetune_portal.datasets.models import DatasetVersion

    content = content if content is not None else f'{{"n": {next(_counter)}}}\n'.encode()
    digest = hashlib.sha256(content).hexdigest()
    version = DatasetVersion(
        dataset=dataset,
        number=number or dataset.versions.count() + 1,
        sha256=digest,
        byte_size=len(content),
        status=status,
        **extra,
    )
    version.file.save(f"{digest}.jsonl", ContentFile(content), save=False)
    version.save()
    return version


def make_job(project, *, created_by=None, status: str = "draft", provider: str = "openai", **fields):
    from finetune_portal.jobs.models import FineTuningJob

    fields.setdefault("base_model", "gpt-4o-mini-2024-07-18")
    return FineTuningJob.objects.create(
        project=project, created_by=created_by, status=status, provider=provider, **fields
    )
