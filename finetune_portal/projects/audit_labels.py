"""The audit log in words: each action code gets a sentence built from the entry's actor, target and data.

The codes are written by the services of every app; this table only reads them, so it names no app.
An unknown code is shown as it is, with its target, rather than hidden.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from finetune_portal.core.models import AuditEntry
from finetune_portal.projects.models import Role

# code -> (short name for the filter, sentence). Placeholders: {actor}, {target} and the entry's data.
ACTIONS: dict[str, tuple[str, str]] = {
    "project.created": ("Project created", "{actor} created the project {target}"),
    "project.budget_set": ("Budget changed", "{actor} set the monthly budget to {budget}"),
    "project.webhook_set": ("Webhook set", "{actor} set the project's chat webhook"),
    "project.webhook_removed": ("Webhook removed", "{actor} removed the project's chat webhook"),
    "membership.added": ("Member added", "{username} was added as {role} by {actor}"),
    "membership.changed": ("Member's role changed", "{username} was made {role} by {actor}"),
    "membership.removed": ("Member removed", "{username} ({role}) was removed by {actor}"),
    "invitation.sent": ("Invitation sent", "{actor} invited {email} as {role}"),
    "invitation.revoked": ("Invitation withdrawn", "{actor} withdrew the invitation to {email}"),
    "invitation.accepted": ("Invitation accepted", "{username} ({email}) accepted the invitation as {role}"),
    "user.created": ("Account created", "{actor} created the account {username} ({email})"),
    "credential.created": ("Key added", "{actor} added the key {label} (••••{last_four})"),
    "credential.revoked": ("Key revoked", "{actor} revoked the key {target}"),
    "credential.checked": ("Key tested", "{actor} tested the key {target}: {outcome}"),
    "dataset.create": ("Dataset created", "{actor} created the dataset {target}"),
    "dataset.version.create": ("Dataset version uploaded", "{actor} uploaded {target}"),
    "job.launched": ("Job launched", "{actor} launched {target} ({base_model})"),
    "job.approval_requested": (
        "Job waits for approval",
        "{target} by {actor} waits for approval: estimated {estimated_cost} with {remaining} left",
    ),
    "job.approved": ("Job approved", "{actor} approved {target}"),
    "job.rejected": ("Job rejected", "{actor} rejected {target}"),
    "job.cancel_requested": ("Job cancel requested", "{actor} asked to cancel {target}"),
    "job.pause_requested": ("Job pause requested", "{actor} asked to pause {target}"),
    "job.resume_requested": ("Job resume requested", "{actor} asked to resume {target}"),
}

_ROLE_LABELS = {role.value: role.label for role in Role}


def action_choices() -> list[tuple[str, str]]:
    return sorted(((code, name) for code, (name, _) in ACTIONS.items()), key=lambda choice: choice[1])


def audit_label(entry: AuditEntry) -> str:
    """``membership.added`` -> "leo was added as ML lead by ada"."""
    values: dict[str, Any] = defaultdict(lambda: "—")
    for name, value in (entry.data or {}).items():
        values[name] = _ROLE_LABELS.get(value, value) if name == "role" else value
    values["actor"] = entry.actor.username if entry.actor else "the system"
    values["target"] = entry.target_repr or f"{entry.target_type} {entry.target_id}"
    known = ACTIONS.get(entry.action)
    if known is None:
        return f"{values['actor']}: {entry.action} {values['target']}"
    return known[1].format_map(values)
