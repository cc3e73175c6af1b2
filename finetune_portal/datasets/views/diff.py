"""Comparing two versions of a dataset."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render

from finetune_portal.datasets.diff import SECTIONS, default_pair, diff_index, diff_page
from finetune_portal.datasets.selectors import dataset_for_project, version_for_dataset
from finetune_portal.datasets.views.params import int_param
from finetune_portal.projects.access import get_project_access


def dataset_diff(request, slug: str, dataset_id: int):
    access = get_project_access(request.user, slug)
    dataset = dataset_for_project(access.project, dataset_id)
    new_number = int_param(request.GET.get("new"), 0)
    new = version_for_dataset(dataset, new_number) if new_number else dataset.versions.first()
    if new is None:
        raise Http404("This dataset has no versions.")
    old_number = int_param(request.GET.get("old"), 0)
    old = version_for_dataset(dataset, old_number) if old_number else default_pair(new)
    context = {"access": access, "project": access.project, "dataset": dataset, "old": old, "new": new}
    context["versions"] = dataset.versions.only("number")
    if old is not None:
        section = request.GET.get("show")
        index = diff_index(old, new)
        if section not in SECTIONS:
            section = next((s for s in SECTIONS if getattr(index, s)), "changed")
        context |= {
            "diff": index,
            "section": section,
            "diff_page": diff_page(
                old, new, index, section=section, page=int_param(request.GET.get("page"), 1)
            ),
        }
    if request.htmx and request.htmx.target == "diff-examples":
        return render(request, "datasets/diff.html#examples", context)
    return render(request, "datasets/diff.html", context)
