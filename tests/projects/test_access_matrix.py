"""Each role against each page: allowed (200/302), forbidden (403) or not revealed (404)."""

from __future__ import annotations

import pytest
from django.urls import reverse, reverse_lazy

from finetune_portal.accounts.models import Invitation
from finetune_portal.credentials.models import ProviderCredential
from finetune_portal.jobs.states import JobStatus
from tests.factories import PASSWORD, make_dataset, make_job, make_version

ROLES = ("member", "ml_lead", "admin", "site_admin", "outsider")

# page -> (method, expected status per role in ROLES order)
MATRIX = {
    "project list": ("get", (200, 200, 200, 200, 200)),
    "project new": ("get", (403, 403, 403, 200, 403)),
    "overview": ("get", (200, 200, 200, 200, 404)),
    "members": ("get", (200, 200, 200, 200, 404)),
    "members add": ("post", (403, 403, 302, 302, 404)),
    "project credentials": ("get", (403, 403, 200, 200, 404)),
    "site credentials": ("get", (403, 403, 403, 200, 403)),
    "datasets": ("get", (200, 200, 200, 200, 404)),
    "dataset detail": ("get", (200, 200, 200, 200, 404)),
    "dataset new": ("get", (200, 200, 200, 200, 404)),
    "dataset upload": ("get", (200, 200, 200, 200, 404)),
    "dataset version": ("get", (200, 200, 200, 200, 404)),
    "dataset version download": ("get", (200, 200, 200, 200, 404)),
    "dataset diff": ("get", (200, 200, 200, 200, 404)),
    "dataset version split": ("post", (302, 302, 302, 302, 404)),
    "jobs": ("get", (200, 200, 200, 200, 404)),
    "new job": ("get", (200, 200, 200, 200, 404)),
    "job detail": ("get", (200, 200, 200, 200, 404)),
    "job live fragment": ("get", (200, 200, 200, 200, 404)),
    "job metrics": ("get", (200, 200, 200, 200, 404)),
    "compare runs": ("get", (200, 200, 200, 200, 404)),
    "compare runs csv": ("get", (200, 200, 200, 200, 404)),
    "cancel own job": ("post", (302, 302, 302, 302, 404)),
    "cancel lead's job": ("post", (403, 302, 302, 302, 404)),
    "local GPU form refresh": ("post", (200, 200, 200, 200, 404)),
    "openai launch hints": ("get", (200, 200, 200, 200, 404)),
    "openai account": ("get", (403, 403, 200, 200, 404)),
    "openai import": ("post", (403, 403, 302, 302, 404)),
    "profile": ("get", (200, 200, 200, 200, 200)),
    "profile save": ("post", (302, 302, 302, 302, 302)),
    "password change": ("get", (200, 200, 200, 200, 200)),
    "create account": ("get", (403, 403, 403, 200, 403)),
    "invite": ("get", (403, 403, 200, 200, 404)),
    "invite send": ("post", (403, 403, 302, 302, 404)),
    "invitation withdraw": ("post", (403, 403, 302, 302, 404)),
    "project audit": ("get", (403, 403, 200, 200, 404)),
    "project audit csv": ("get", (403, 403, 200, 200, 404)),
    "site audit": ("get", (403, 403, 403, 200, 403)),
    "budget set": ("post", (403, 403, 302, 302, 404)),
    "approve job": ("post", (403, 302, 302, 302, 404)),
    "reject job": ("post", (403, 302, 302, 302, 404)),
    "notifications": ("get", (403, 403, 200, 200, 404)),
    "webhook test": ("post", (403, 403, 302, 302, 404)),
    "test project key": ("post", (403, 403, 302, 302, 404)),
    "test site key": ("post", (403, 403, 403, 302, 403)),
}


def page_request(name: str, cast):
    slug = cast.project.slug
    dataset = make_dataset(cast.project)
    version = make_version(dataset)
    version_args = [slug, dataset.pk, version.number]
    own_job = make_job(cast.project, created_by=cast.member, status=JobStatus.QUEUED)
    waiting_job = make_job(cast.project, created_by=cast.member, status=JobStatus.AWAITING_APPROVAL)
    invitation = Invitation.objects.create(project=cast.project, email="maria@example.com", role="member")
    # Nothing listens on port 1: a key test answers "unreachable" at once, never reaching a provider.
    project_key = ProviderCredential.objects.create(
        kind="openai",
        project=cast.project,
        label="k",
        secret="sk-x-12345678",
        base_url="http://127.0.0.1:1/v1",
    )
    site_key = ProviderCredential.objects.create(
        kind="openai", label="k", secret="sk-x-12345678", base_url="http://127.0.0.1:1/v1"
    )
    leads_job = make_job(cast.project, created_by=cast.ml_lead, status=JobStatus.QUEUED)
    return {
        "project list": (reverse("projects:list"), {}),
        "project new": (reverse("projects:new"), {}),
        "overview": (reverse("projects:overview", args=[slug]), {}),
        "members": (reverse("projects:members", args=[slug]), {}),
        "members add": (reverse("projects:members", args=[slug]), {"username": "otto", "role": "member"}),
        "project credentials": (reverse("credentials:project", args=[slug]), {}),
        "site credentials": (reverse("credentials:site"), {}),
        "datasets": (reverse("datasets:list", args=[slug]), {}),
        "dataset detail": (reverse("datasets:detail", args=[slug, dataset.pk]), {}),
        "dataset new": (reverse("datasets:new", args=[slug]), {}),
        "dataset upload": (reverse("datasets:upload", args=[slug, dataset.pk]), {}),
        "dataset version": (reverse("datasets:version", args=version_args), {}),
        "dataset version download": (reverse("datasets:download", args=version_args), {}),
        "dataset diff": (reverse("datasets:diff", args=[slug, dataset.pk]), {"old": 1, "new": 1}),
        "dataset version split": (reverse("datasets:split", args=version_args), {"validation_percent": 50}),
        "jobs": (reverse("jobs:list", args=[slug]), {}),
        "new job": (reverse("jobs:new", args=[slug]), {}),
        "job detail": (reverse("jobs:detail", args=[slug, own_job.pk]), {}),
        "job live fragment": (reverse("jobs:detail", args=[slug, own_job.pk]), {"part": "events"}),
        "job metrics": (reverse("jobs:metrics", args=[slug, own_job.pk]), {"after_step": "0"}),
        "compare runs": (reverse("jobs:compare", args=[slug]), {"ids": f"{own_job.pk},{leads_job.pk}"}),
        "compare runs csv": (
            reverse("jobs:compare", args=[slug]),
            {"ids": f"{own_job.pk},{leads_job.pk}", "format": "csv"},
        ),
        "cancel own job": (reverse("jobs:cancel", args=[slug, own_job.pk]), {}),
        "cancel lead's job": (reverse("jobs:cancel", args=[slug, leads_job.pk]), {}),
        "local GPU form refresh": (reverse("peft_provider:form", args=[slug]), {"method": "sft"}),
        "openai launch hints": (reverse("openai_provider:launch_hints", args=[slug]), {}),
        "openai account": (reverse("openai_provider:account", args=[slug]), {}),
        # With no credential configured the import answers with a message, never reaching a provider.
        "openai import": (reverse("openai_provider:import", args=[slug]), {}),
        "profile": (reverse("accounts:profile"), {}),
        "profile save": (reverse("accounts:profile"), {"section": "notifications", "job_failed": "on"}),
        "password change": (reverse("accounts:password_change"), {}),
        "create account": (reverse("accounts:user_new"), {}),
        "invite": (reverse("accounts:invite", args=[slug]), {}),
        "invite send": (
            reverse("accounts:invite", args=[slug]),
            {"email": "new@example.com", "role": "member"},
        ),
        "invitation withdraw": (reverse("accounts:invitation_revoke", args=[slug, invitation.pk]), {}),
        "project audit": (reverse("projects:audit", args=[slug]), {}),
        "project audit csv": (reverse("projects:audit", args=[slug]), {"format": "csv"}),
        "site audit": (reverse("projects:audit_site"), {}),
        "budget set": (reverse("projects:budget", args=[slug]), {"monthly_budget_usd": "100"}),
        "approve job": (reverse("jobs:approve", args=[slug, waiting_job.pk]), {}),
        "reject job": (reverse("jobs:reject", args=[slug, waiting_job.pk]), {"reason": "no"}),
        "notifications": (reverse("notifications:project", args=[slug]), {}),
        "webhook test": (reverse("notifications:webhook_test", args=[slug]), {}),
        "test project key": (reverse("credentials:test", args=[project_key.pk]), {}),
        "test site key": (reverse("credentials:test", args=[site_key.pk]), {}),
    }[name]


CASES = [(page, role, expected[i]) for page, (_, expected) in MATRIX.items() for i, role in enumerate(ROLES)]


@pytest.mark.django_db
@pytest.mark.parametrize(("page", "role", "expected"), CASES, ids=[f"{p}-{r}" for p, r, _ in CASES])
def test_role_against_page(client, cast, page, role, expected):
    client.login(username=getattr(cast, role).username, password=PASSWORD)
    url, data = page_request(page, cast)
    method = MATRIX[page][0]

    response = getattr(client, method)(url, data)

    assert response.status_code == expected


@pytest.mark.django_db
@pytest.mark.parametrize("page", list(MATRIX))
def test_anonymous_users_are_sent_to_log_in(client, cast, page):
    url, data = page_request(page, cast)
    response = getattr(client, MATRIX[page][0])(url, data)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.django_db
def test_another_projects_objects_answer_404_and_never_show_their_data(client, cast):
    foreign_dataset = make_dataset(cast.other_project, name="secret-salaries")
    foreign_job = make_job(cast.other_project, name="secret-run", created_by=cast.outsider, status="running")
    client.login(username=cast.member.username, password=PASSWORD)
    mine = cast.project.slug

    urls = [
        reverse("projects:overview", args=[cast.other_project.slug]),
        reverse("datasets:detail", args=[mine, foreign_dataset.pk]),
        reverse("jobs:detail", args=[mine, foreign_job.pk]),
        reverse("datasets:detail", args=[cast.other_project.slug, foreign_dataset.pk]),
        reverse("jobs:detail", args=[cast.other_project.slug, foreign_job.pk]),
        reverse("jobs:metrics", args=[mine, foreign_job.pk]) + "?after_step=0",
        reverse("jobs:metrics", args=[cast.other_project.slug, foreign_job.pk]),
        reverse("jobs:compare", args=[mine]) + f"?ids={foreign_job.pk},{foreign_job.pk + 1}",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"secret-" not in response.content

    response = client.post(reverse("jobs:cancel", args=[mine, foreign_job.pk]))
    assert response.status_code == 404
    foreign_job.refresh_from_db()
    assert foreign_job.status == "running"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", [reverse_lazy("accounts:password_reset"), reverse_lazy("accounts:password_reset_done")]
)
def test_password_reset_pages_need_no_login(client, url):
    assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_project_list_shows_only_my_projects(client, cast):
    client.login(username=cast.member.username, password=PASSWORD)
    content = client.get(reverse("projects:list")).content.decode()
    assert cast.project.name in content
    assert cast.other_project.name not in content
