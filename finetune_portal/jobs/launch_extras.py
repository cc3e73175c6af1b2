"""Choices other apps add to the launch form ("when this job succeeds, evaluate it on version X"),
without the jobs app importing them: an app registers a form factory from its AppConfig.ready.

Each extra is a form shown under the provider's own, checked with it, and saved by ``save_for`` in the
same transaction as the job (``job_create_once``): a launch that fails leaves nothing of it, and a form
sent twice, which finds the job the first submission made, saves it once. ``save_for`` raises
``ValidationError`` (after adding the reason to its own form) to refuse; the job is not created then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from django.http import QueryDict

from finetune_portal.projects.access import ProjectAccess


class LaunchExtraForm(Protocol):
    prefix: str | None

    def is_valid(self) -> bool: ...

    def save_for(self, *, job: Any, user: Any) -> None: ...


# (the posted data or None, access) -> the extra's form, or None where it does not apply to this user.
LaunchExtraFactory = Callable[[QueryDict | None, ProjectAccess], LaunchExtraForm | None]
_EXTRAS: dict[str, LaunchExtraFactory] = {}


def register_launch_extra(key: str, factory: LaunchExtraFactory) -> None:
    _EXTRAS[key] = factory


def launch_extra_forms(data: QueryDict | None, *, access: ProjectAccess) -> list[LaunchExtraForm]:
    return [form for factory in _EXTRAS.values() if (form := factory(data, access)) is not None]


def launch_extras_valid(extras: list[LaunchExtraForm]) -> bool:
    """Every extra checked (each shows its own errors), not only up to the first invalid one."""
    return all([extra.is_valid() for extra in extras])
