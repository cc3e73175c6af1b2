"""Which folders on a GPU worker a job may load a base model (or its tokenizer) from.

A member types ``local:/path``; only folders under the directories the site configures
(``PEFT_LOCAL_MODEL_DIRS``) and, with storage on the filesystem, the project's own training outputs are
accepted. Anything else gets one message that says nothing about whether the path exists: a folder outside
the allowed roots is never looked at.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings

from finetune_portal.providers.peft.base_models import BaseModelError

REFUSED = (
    "Models are loaded only from the model folders this portal is configured with (PEFT_LOCAL_MODEL_DIRS) "
    "or from this project's own training outputs. Give a folder there, or a Hugging Face model id."
)


def allowed_model_roots(*, project_id: int | None) -> list[Path]:
    roots = [Path(folder) for folder in getattr(settings, "PEFT_LOCAL_MODEL_DIRS", []) if str(folder).strip()]
    if project_id is not None and not getattr(settings, "S3_BUCKET", ""):
        # Where this project's adapters and checkpoints are stored (reporting.storage_prefix).
        roots.append(Path(settings.MEDIA_ROOT) / "peft" / str(project_id))
    return roots


def _within(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def local_model_folder(folder: str, *, project_id: int | None) -> Path:
    """The folder when it lies under an allowed root (after following links), else BaseModelError(REFUSED).

    The first check is on the written path alone, so a folder outside the roots is never looked at; a
    folder inside is then resolved, so a link cannot lead back out.
    """
    written = Path(os.path.normpath(folder))
    if not written.is_absolute():
        raise BaseModelError(REFUSED)
    roots = [Path(os.path.normpath(root)) for root in allowed_model_roots(project_id=project_id)]
    if not any(_within(written, root) for root in roots if root.is_absolute()):
        raise BaseModelError(REFUSED)
    resolved = written.resolve()
    if not any(_within(resolved, root.resolve()) for root in roots if root.is_absolute()):
        raise BaseModelError(REFUSED)
    return resolved
