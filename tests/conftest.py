from __future__ import annotations

import os

# Set before anything imports huggingface_hub: tests never reach a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest

from tests.factories import make_project, make_user


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Real hashing is deliberately slow; tests log in hundreds of times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def cast(db):
    """One project with a user of each role, an outsider, a site admin and a second project."""
    from finetune_portal.projects.models import Membership, Role

    project = make_project("Bank reviews", "bank-reviews")
    other_project = make_project("Other team", "other-team")
    users = {
        "member": make_user("mia"),
        "ml_lead": make_user("lee"),
        "admin": make_user("ada"),
        "outsider": make_user("otto"),
        "site_admin": make_user("root", is_superuser=True),
    }
    Membership.objects.create(project=project, user=users["member"], role=Role.MEMBER)
    Membership.objects.create(project=project, user=users["ml_lead"], role=Role.ML_LEAD)
    Membership.objects.create(project=project, user=users["admin"], role=Role.ADMIN)
    Membership.objects.create(project=other_project, user=users["outsider"], role=Role.ADMIN)
    return type("Cast", (), {"project": project, "other_project": other_project, **users})
