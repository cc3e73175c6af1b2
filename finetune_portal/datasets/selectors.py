from __future__ import annotations

from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from finetune_portal.datasets.models import Dataset


def datasets_for_project(project) -> QuerySet[Dataset]:
    return Dataset.objects.filter(project=project).annotate(version_count=Count("versions"))


def dataset_for_project(project, dataset_id: int) -> Dataset:
    return get_object_or_404(Dataset, pk=dataset_id, project=project)
