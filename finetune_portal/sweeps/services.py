"""Writes to sweeps: create one (its runs made by the provider's own launch form), launch its next runs,
cancel the rest.

Every run is made by the chosen provider's launch form, filled in as the browser would fill it (its
defaults) with the fixed settings and the run's swept values, so a sweep's runs validate and default
exactly as jobs launched by hand do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import forms
from django.db import transaction
from django.utils import timezone

from finetune_portal.core.audit import audit_log
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.services import job_cancel, job_launch
from finetune_portal.jobs.states import IllegalTransition, JobStatus
from finetune_portal.providers.base import ProviderError, ProviderUnavailable
from finetune_portal.providers.registry import get_launch_form_class
from finetune_portal.sweeps.models import Sweep, SweepRun
from finetune_portal.sweeps.space import SpaceError, expand

logger = logging.getLogger(__name__)


class SweepError(Exception):
    """A sweep that cannot start as asked; the message says why. Nothing was saved."""


def params_label(params: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in params.items()
    )


def launch_form_data(
    form_class, *, project, user, fixed: Mapping[str, Any], params: Mapping[str, Any]
) -> dict[str, Any]:
    """What the browser would send: the form's defaults for these fixed settings, then the run's values."""
    blank = form_class(project=project, user=user, initial=dict(fixed))
    data: dict[str, Any] = {}
    for name, field in blank.fields.items():
        value = blank[name].value()
        if value is None or (isinstance(field, forms.BooleanField) and not value):
            continue
        data[name] = value.pk if hasattr(value, "pk") else value
    data.update(fixed)
    data.update(params)
    return data


def _run_forms(form_class, *, project, user, fixed, runs) -> list:
    """A bound, valid launch form per run, or SweepError naming the first run that does not validate."""
    bound = []
    for number, params in enumerate(runs, start=1):
        form = form_class(
            launch_form_data(form_class, project=project, user=user, fixed=fixed, params=params),
            project=project,
            user=user,
        )
        if not form.is_valid():
            problems = []
            for name, errors in form.errors.items():
                label = form.fields[name].label if name in form.fields else None
                problems.append(
                    f"{label or name.replace('_', ' ').capitalize()}: {' '.join(errors)}"
                    if name != "__all__"
                    else " ".join(errors)
                )
            raise SweepError(f"Run {number} ({params_label(params)}) is not valid: {'; '.join(problems)}")
        bound.append(form)
    return bound


def sweep_create(
    *,
    project,
    created_by,
    provider: str,
    name: str,
    fixed: Mapping[str, Any],
    space: Mapping[str, list[Any]],
    strategy: str,
    max_runs: int,
    max_concurrent: int,
    cost_cap: Decimal | None = None,
    seed: int | None = None,
) -> Sweep:
    """Create the sweep and all its runs as drafts, then launch the first ``max_concurrent`` of them.

    All or nothing: a run the launch form refuses, or an estimated cost over ``cost_cap``, saves nothing.
    """
    try:
        runs = expand(space, strategy=strategy, max_runs=max_runs, seed=seed)
        form_class = get_launch_form_class(provider)
    except (SpaceError, ProviderUnavailable) as exc:
        raise SweepError(str(exc)) from exc
    bound = _run_forms(form_class, project=project, user=created_by, fixed=fixed, runs=runs)
    with transaction.atomic():
        sweep = Sweep.objects.create(
            project=project,
            created_by=created_by,
            name=name,
            provider=provider,
            strategy=strategy,
            seed=seed,
            space=dict(space),
            max_runs=max_runs,
            max_concurrent=max_concurrent,
            cost_cap=cost_cap,
        )
        total = Decimal(0)
        priced = False
        for index, (params, form) in enumerate(zip(runs, bound, strict=True)):
            job = form.save()
            FineTuningJob.objects.filter(pk=job.pk).update(name=f"{name} · {params_label(params)}"[:120])
            SweepRun.objects.create(sweep=sweep, job=job, index=index, params=params)
            if job.estimated_cost is not None:
                total += job.estimated_cost
                priced = True
        if cost_cap is not None and total > cost_cap:
            raise SweepError(
                f"The {len(runs)} runs are estimated at ${total:,.2f}, over the sweep's cap of "
                f"${cost_cap:,.2f}: give fewer values, draw fewer runs, or raise the cap."
            )
        if priced:
            Sweep.objects.filter(pk=sweep.pk).update(estimated_cost=total)
            sweep.estimated_cost = total
        audit_log(
            actor=created_by,
            action="sweep.created",
            target=sweep,
            project=project,
            data={"provider": provider, "runs": len(runs), "strategy": strategy, "space": dict(space)},
        )
        sweep_advance(sweep_id=sweep.pk)
    return sweep


def sweep_advance(*, sweep_id: int) -> list[int]:
    """Launch queued (draft) runs in order until ``max_concurrent`` are under way; returns their job ids.

    The sweep row is locked, so two runs ending at once cannot both launch into the same free slot.
    """
    launched: list[int] = []
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().filter(pk=sweep_id).first()
        if sweep is None or sweep.cancelled_at is not None:
            return launched
        runs = list(SweepRun.objects.filter(sweep=sweep).select_related("job").order_by("index"))
        busy = sum(1 for run in runs if run.job.status != JobStatus.DRAFT and not run.job.is_final)
        for run in runs:
            if busy >= sweep.max_concurrent:
                break
            if run.job.status != JobStatus.DRAFT:
                continue
            try:
                job_launch(job=run.job, actor=sweep.created_by)
            except (ProviderError, IllegalTransition) as exc:
                # The run stays a draft, visible on the sweep page; the next one gets the slot.
                logger.warning("Sweep %s could not launch job %s: %s", sweep.pk, run.job_id, exc)
                continue
            busy += 1
            launched.append(run.job_id)
    return launched


def sweep_cancel_rest(*, sweep: Sweep, actor) -> int:
    """Stop every run not finished yet (queued ones never start); returns how many were asked to stop.

    Idempotent: runs already finished or already cancelling are left alone, so a second click does nothing.
    """
    cancelled = 0
    with transaction.atomic():
        locked = Sweep.objects.select_for_update().get(pk=sweep.pk)
        if locked.cancelled_at is None:
            locked.cancelled_at = timezone.now()
            locked.save(update_fields=["cancelled_at"])
        sweep.cancelled_at = locked.cancelled_at
        for run in SweepRun.objects.filter(sweep=locked).select_related("job").order_by("index"):
            job = run.job
            if job.is_final or job.status == JobStatus.CANCELLING:
                continue
            try:
                with transaction.atomic():
                    job_cancel(job=job, actor=actor)
            except (IllegalTransition, ProviderError) as exc:
                # It finished (or its provider went away) between the read and the cancel.
                logger.info("Sweep %s: job %s not cancelled: %s", sweep.pk, job.pk, exc)
                continue
            cancelled += 1
        audit_log(
            actor=actor,
            action="sweep.cancelled",
            target=locked,
            project=locked.project,
            data={"runs_cancelled": cancelled},
        )
    return cancelled
