"""Runs side by side."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from finetune_portal.jobs.compare import RunSelectionError, comparison_build, comparison_csv, parse_run_ids
from finetune_portal.projects.access import get_project_access


@require_GET
def job_compare(request, slug: str):
    """Two to ten runs side by side at a URL that can be shared; ``?format=csv`` downloads the table."""
    access = get_project_access(request.user, slug)
    if not request.GET.get("ids") and request.GET.getlist("run"):
        # The list's checkboxes without JavaScript: send the browser to the shareable ?ids= URL.
        query = urlencode({"ids": ",".join(request.GET.getlist("run"))}, safe=",")
        return redirect(f"{reverse('jobs:compare', args=[slug])}?{query}")
    try:
        ids = parse_run_ids(request.GET.get("ids"))
    except RunSelectionError as exc:
        messages.warning(request, str(exc))
        return redirect("jobs:list", slug=slug)
    comparison = comparison_build(access.project, ids)
    if request.GET.get("format") == "csv":
        response = HttpResponse(comparison_csv(comparison), content_type="text/csv; charset=utf-8")
        filename = f"{access.project.slug}-runs-{'-'.join(map(str, ids))}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    context = {
        "access": access,
        "project": access.project,
        "comparison": comparison,
        "ids": ",".join(map(str, ids)),
        "chart_runs": comparison.chart_data(),
    }
    return render(request, "jobs/compare.html", context)
