"""What a project stands to lose when a provider shuts its models down, and how far its exit has got.

Providers say which of their models shut down and when (``has_sunsets``, ``model_sunset``); nothing
here names one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Prefetch, QuerySet

from finetune_portal.captures.selectors import latest_captures
from finetune_portal.exits.parity import ParityState, parity_states
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.states import JobStatus
from finetune_portal.projects.models import Project
from finetune_portal.providers.base import Sunset
from finetune_portal.providers.registry import all_providers, provider_or_none
from finetune_portal.registry.models import ModelStatus


def sunset_provider_keys() -> list[str]:
    return [provider.key for provider in all_providers() if provider.has_sunsets]


def jobs_at_stake(projects: QuerySet[Project]) -> QuerySet[FineTuningJob]:
    """Jobs of these projects whose model lives at a provider that shuts models down (launched here or
    imported from the account), oldest shutdown first is decided by the caller; newest model first here."""
    return (
        FineTuningJob.objects.filter(
            project__in=projects,
            provider__in=sunset_provider_keys(),
            fine_tuned_model__isnull=False,
        )
        .exclude(fine_tuned_model__status=ModelStatus.DELETED)
        .select_related(
            "project", "fine_tuned_model", "training_version__dataset", "validation_version__dataset"
        )
        .prefetch_related(
            Prefetch(
                "replaced_by",
                queryset=FineTuningJob.objects.select_related("fine_tuned_model", "project").order_by(
                    "-created_at", "-pk"
                ),
            )
        )
        .order_by("project__name", "-fine_tuned_model__created_at", "-pk")
    )


def project_has_models_at_stake(project: Project) -> bool:
    return jobs_at_stake(Project.objects.filter(pk=project.pk)).exists()


@dataclass
class ExitRow:
    """One fine-tuned model at stake and where its exit stands."""

    job: FineTuningJob
    model_id: str
    base_model: str
    sunset: Sunset | None
    # The portal's own copy of the training data: the provider does not give uploaded files back.
    holds_training_data: bool
    replacements: list[FineTuningJob] = field(default_factory=list)
    # The newest capture of the model's answers (captures app), and the newest parity check.
    captured: object = None
    parity: ParityState | None = None
    # Set by the project page when its viewer may start a parity check.
    parity_form: object = None

    @property
    def retrained(self) -> bool:
        return any(job.status == JobStatus.SUCCEEDED for job in self.replacements)

    @property
    def parity_ready(self) -> bool:
        """A succeeded replacement with a model that answers: the pair can be compared."""
        return any(
            job.status == JobStatus.SUCCEEDED
            and getattr(job, "fine_tuned_model", None) is not None
            and job.fine_tuned_model.status == ModelStatus.AVAILABLE
            for job in self.replacements
        )


def exit_rows(projects: QuerySet[Project]) -> list[ExitRow]:
    """Every model at stake in these projects, soonest shutdown first."""
    rows = []
    jobs = list(jobs_at_stake(projects))
    parity = parity_states(jobs)
    for job in jobs:
        model = job.fine_tuned_model
        model_id = model.provider_model_id or model.base_model
        provider = provider_or_none(job.provider)
        rows.append(
            ExitRow(
                job=job,
                model_id=model_id,
                base_model=model.base_model or job.base_model,
                sunset=provider.model_sunset(model_id) if provider else None,
                holds_training_data=job.training_version_id is not None,
                replacements=list(job.replaced_by.all()),
                parity=parity.get(job.pk),
            )
        )
    attach_captures(rows)
    far = (9999, "")
    rows.sort(key=lambda row: (row.sunset.day.toordinal(), "") if row.sunset else far)
    return rows


def attach_captures(rows: list[ExitRow]) -> None:
    """Each row's newest capture of its model's answers (None: never captured)."""
    captures = latest_captures(row.job.fine_tuned_model.pk for row in rows)
    for row in rows:
        row.captured = captures.get(row.job.fine_tuned_model.pk)
