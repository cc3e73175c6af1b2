from __future__ import annotations

from django import template

from finetune_portal.exits.selectors import project_has_models_at_stake

register = template.Library()


@register.simple_tag
def exit_at_stake(project) -> bool:
    """Whether the project's tabs show the exit page: it holds a model that a provider shuts down."""
    return project_has_models_at_stake(project)
