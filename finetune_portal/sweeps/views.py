from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from finetune_portal.jobs.compare import MAX_RUNS as COMPARE_MAX_RUNS
from finetune_portal.projects.access import get_project_access
from finetune_portal.projects.models import Role
from finetune_portal.providers.base import ProviderUnavailable
from finetune_portal.providers.registry import default_provider_key, provider_choices, provider_keys
from finetune_portal.sweeps.forms import SweepForm
from finetune_portal.sweeps.scatter import build_scatter
from finetune_portal.sweeps.selectors import sweep_for_project, sweep_summary, sweeps_for_project
from finetune_portal.sweeps.services import SweepError, sweep_cancel_rest, sweep_create


@require_GET
def sweep_list(request, slug: str):
    access = get_project_access(request.user, slug)
    sweeps = sweeps_for_project(access.project)
    return render(
        request, "sweeps/list.html", {"access": access, "project": access.project, "sweeps": sweeps}
    )


@require_http_methods(["GET", "POST"])
def sweep_new(request, slug: str):
    access = get_project_access(request.user, slug)
    access.require(access.can_launch_jobs)
    provider = request.POST.get("provider") or request.GET.get("provider") or default_provider_key()
    if provider not in provider_keys():
        raise Http404("No such provider.")
    context = {
        "access": access,
        "project": access.project,
        "providers": provider_choices(),
        "provider": provider,
    }
    try:
        form = SweepForm(request.POST or None, project=access.project, user=request.user, provider=provider)
    except ProviderUnavailable as exc:
        return render(request, "sweeps/new.html", {**context, "form": None, "unavailable": exc.message})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            sweep = sweep_create(
                project=access.project,
                created_by=request.user,
                provider=provider,
                name=data["name"],
                fixed=form.fixed_settings(),
                space=form.space,
                strategy=data["strategy"],
                max_runs=data["max_runs"],
                max_concurrent=data["max_concurrent"],
                cost_cap=data["cost_cap"],
                seed=data["seed"],
            )
        except SweepError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Sweep {sweep.name} created with {len(form.runs)} runs.")
            return redirect("sweeps:detail", slug=slug, sweep_id=sweep.pk)
    return render(request, "sweeps/new.html", {**context, "form": form})


def _can_cancel(access, sweep) -> bool:
    return access.has_role(Role.ML_LEAD) or sweep.created_by_id == getattr(access.user, "pk", None)


@require_GET
def sweep_detail(request, slug: str, sweep_id: int):
    access = get_project_access(request.user, slug)
    sweep = sweep_for_project(access.project, sweep_id)
    summary = sweep_summary(sweep)
    settings = list(sweep.space)
    chosen = request.GET.get("x") if request.GET.get("x") in settings else (settings[0] if settings else None)
    scatter = None
    if chosen:
        scatter = build_scatter(
            chosen,
            [
                (row.params.get(chosen), row.best_valid_loss, row.job.pk, row.is_best)
                for row in summary.rows
                if row.best_valid_loss is not None
            ],
        )
    ids = summary.job_ids
    compare_url = None
    if len(ids) >= 2:
        compare_url = (
            reverse("jobs:compare", args=[slug])
            + "?"
            + urlencode({"ids": ",".join(map(str, ids[:COMPARE_MAX_RUNS]))}, safe=",")
        )
    context = {
        "access": access,
        "project": access.project,
        "sweep": sweep,
        "summary": summary,
        "settings": settings,
        "chosen": chosen,
        "scatter": scatter,
        "compare_url": compare_url,
        "compare_capped": len(ids) > COMPARE_MAX_RUNS,
        "compare_max": COMPARE_MAX_RUNS,
        "can_cancel": _can_cancel(access, sweep) and summary.unfinished > 0,
    }
    if request.htmx and request.GET.get("part") == "runs":
        return render(request, "sweeps/detail.html#runs", context)
    return render(request, "sweeps/detail.html", context)


@require_POST
def sweep_cancel_rest_view(request, slug: str, sweep_id: int):
    access = get_project_access(request.user, slug)
    sweep = sweep_for_project(access.project, sweep_id)
    access.require(_can_cancel(access, sweep))
    count = sweep_cancel_rest(sweep=sweep, actor=request.user)
    if count:
        messages.success(request, f"Asked {count} unfinished run(s) to stop.")
    else:
        messages.info(request, "No run was left to cancel.")
    return redirect("sweeps:detail", slug=slug, sweep_id=sweep.pk)
