from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from finetune_portal.jobs.services import checkpoint_record, job_event_record, metric_points_record
from tests.celery_support import DEAD_BROKER, broker_for_test, task_sends
from tests.factories import PASSWORD, make_dataset, make_job, make_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(client, cast):
    client.login(username=cast.member.username, password=PASSWORD)
    return client


def metrics_url(job, **query):
    url = reverse("jobs:metrics", args=[job.project.slug, job.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


class TestLivePoll:
    def test_it_sends_only_points_after_the_step_asked(self, member_client, cast):
        job = make_job(cast.project, status="running")
        metric_points_record(job=job, points=[{"step": s, "train_loss": 1.0 / s} for s in range(1, 6)])

        data = member_client.get(metrics_url(job, after_step=3)).json()

        assert data["series"]["train_loss"] == [[4, 5], [0.25, 0.2]]
        assert data["last_step"] == 5
        assert data["final"] is False

    def test_nothing_new_keeps_the_step_and_keeps_polling(self, member_client, cast):
        job = make_job(cast.project, status="running")
        metric_points_record(job=job, points=[{"step": 7, "train_loss": 0.3}])

        response = member_client.get(metrics_url(job, after_step=7))

        assert response.status_code == 200
        data = response.json()
        live_version = data.pop("live_version")
        assert data == {
            "series": {},
            "last_step": 7,
            "downsampled": False,
            "status": "running",
            "final": False,
            "has_more": False,
        }
        assert (
            f'data-live-version="{live_version}"'
            in member_client.get(reverse("jobs:detail", args=[cast.project.slug, job.pk])).content.decode()
        )

    def test_the_live_version_changes_with_a_new_event(self, member_client, cast):
        job = make_job(cast.project, status="running")
        before = member_client.get(metrics_url(job, after_step=0)).json()["live_version"]
        job_event_record(job=job, message="Fine-tuning job started")
        after = member_client.get(metrics_url(job, after_step=0)).json()["live_version"]
        assert before != after

    def test_a_nothing_new_poll_costs_one_query_beyond_the_session(
        self, member_client, cast, django_assert_max_num_queries
    ):
        job = make_job(cast.project, status="running")
        metric_points_record(job=job, points=[{"step": s, "train_loss": 0.3} for s in range(1, 200)])
        member_client.get(metrics_url(job, after_step=199))

        # Session and user, then the job, the access check and "anything newer?" in one query.
        with django_assert_max_num_queries(3):
            response = member_client.get(metrics_url(job, after_step=199))

        assert response.json()["series"] == {}

    def test_new_points_bring_the_checkpoints_along(self, member_client, cast):
        job = make_job(cast.project, status="running")
        metric_points_record(job=job, points=[{"step": 1, "train_loss": 0.3}])
        checkpoint_record(job=job, step=2)
        metric_points_record(job=job, points=[{"step": 2, "train_loss": 0.2}])

        data = member_client.get(metrics_url(job, after_step=1)).json()

        assert data["checkpoints"] == [2]
        assert data["series"]["train_loss"] == [[2], [0.2]]

    def test_a_final_job_answers_286_with_its_last_points(self, member_client, cast):
        job = make_job(cast.project, status="succeeded")
        metric_points_record(job=job, points=[{"step": 1, "train_loss": 0.9}, {"step": 2, "train_loss": 0.8}])

        response = member_client.get(metrics_url(job, after_step=1))

        assert response.status_code == 286
        assert response.json()["series"]["train_loss"] == [[2], [0.8]]
        assert response.json()["final"] is True

    def test_the_full_view_brings_checkpoints_and_epoch_length(self, member_client, cast):
        job = make_job(cast.project, status="running", hyperparameters={"n_epochs": 2})
        metric_points_record(
            job=job, points=[{"step": s, "train_loss": 1.0, "total_steps": 40} for s in range(1, 11)]
        )
        checkpoint_record(job=job, step=5)

        data = member_client.get(metrics_url(job)).json()

        assert data["checkpoints"] == [5]
        assert data["steps_per_epoch"] == 20
        assert len(data["series"]["train_loss"][0]) == 10

    def test_a_zoom_range_is_answered(self, member_client, cast):
        job = make_job(cast.project, status="running")
        metric_points_record(job=job, points=[{"step": s, "train_loss": 1.0} for s in range(1, 101)])

        data = member_client.get(metrics_url(job, **{"from": 20, "to": 30})).json()

        assert data["series"]["train_loss"][0] == list(range(20, 31))

    def test_a_step_that_is_not_a_number_is_a_404_not_a_500(self, member_client, cast):
        job = make_job(cast.project, status="running")
        assert member_client.get(metrics_url(job, after_step="abc")).status_code == 404

    def test_another_projects_job_is_a_404(self, member_client, cast):
        foreign = make_job(cast.other_project, status="running")
        metric_points_record(job=foreign, points=[{"step": 1, "train_loss": 0.123456}])
        url = reverse("jobs:metrics", args=[cast.project.slug, foreign.pk]) + "?after_step="
        response = member_client.get(url)
        assert response.status_code == 404
        assert b"0.123456" not in response.content


class TestJobPage:
    def test_the_page_shows_settings_links_and_the_chart(self, member_client, cast):
        version = make_version(make_dataset(cast.project, name="reviews"))
        job = make_job(
            cast.project,
            name="sentiment",
            created_by=cast.member,
            status="running",
            training_version=version,
            trained_tokens=123456,
            hyperparameters={"n_epochs": 3, "learning_rate_multiplier": 1.8},
        )

        content = member_client.get(reverse("jobs:detail", args=[cast.project.slug, job.pk])).content.decode()

        assert 'id="loss-chart"' in content
        assert reverse("datasets:detail", args=[cast.project.slug, version.dataset_id]) in content
        assert "Learning-rate multiplier" in content
        assert "123,456" in content
        assert "Cancel job" in content
        # The status and events refresh when the live stream (or the fallback poll) says they changed.
        assert 'hx-trigger="live-changed"' in content
        assert f'data-live-url="{reverse("jobs:live", args=[cast.project.slug])}?jobs=' in content

    def test_the_events_fragment_is_newest_first_and_stops_when_final(self, member_client, cast):
        job = make_job(cast.project, status="running")
        job_event_record(job=job, message="first event")
        job_event_record(job=job, message="second event")
        url = reverse("jobs:detail", args=[cast.project.slug, job.pk]) + "?part=events"

        running = member_client.get(url, headers={"HX-Request": "true"})
        job.status = "succeeded"
        job.save()
        final = member_client.get(url, headers={"HX-Request": "true"})

        body = running.content.decode()
        assert running.status_code == 200
        assert "<html" not in body
        assert body.index("second event") < body.index("first event")
        assert final.status_code == 286
        assert "hx-trigger" not in final.content.decode()

    def test_the_status_fragment_shows_the_timeline_and_stops_when_final(self, member_client, cast):
        from finetune_portal.jobs.services import job_transition

        job = make_job(cast.project, status="running", created_by=cast.member)
        job_transition(job=job, to="succeeded", reason="Done at the provider")
        url = reverse("jobs:detail", args=[cast.project.slug, job.pk]) + "?part=status"

        response = member_client.get(url, headers={"HX-Request": "true"})

        assert response.status_code == 286
        assert "Done at the provider" in response.content.decode()
        assert "Cancel job" not in response.content.decode()

    def test_without_htmx_the_part_parameter_gives_the_whole_page(self, member_client, cast):
        job = make_job(cast.project, status="running")
        url = reverse("jobs:detail", args=[cast.project.slug, job.pk]) + "?part=events"
        assert "<html" in member_client.get(url).content.decode()


class TestRunsList:
    def test_fifty_per_page(self, member_client, cast):
        for i in range(53):
            make_job(cast.project, name=f"run-{i:02d}")
        url = reverse("jobs:list", args=[cast.project.slug])

        first = member_client.get(url).content.decode()
        second = member_client.get(url + "?page=2").content.decode()

        assert first.count('type="checkbox" name="run"') == 50
        assert second.count('type="checkbox" name="run"') == 3
        assert "Page 2 of 2" in second

    def test_filters_are_kept_across_pages(self, member_client, cast):
        for i in range(51):
            make_job(cast.project, name=f"run-{i:02d}", status="running")
        content = member_client.get(
            reverse("jobs:list", args=[cast.project.slug]) + "?status=running"
        ).content
        assert b"status=running&amp;page=2" in content

    def test_estimates_are_marked_and_running_jobs_show_progress_and_final_train_loss(
        self, member_client, cast
    ):
        cancelled = make_job(cast.project, name="stopped", status="cancelled", estimated_cost=Decimal("0.83"))
        paid = make_job(cast.project, name="paid", status="succeeded", actual_cost=Decimal("1.25"))
        running = make_job(
            cast.project, name="busy", status="running", started_at=timezone.now() - timedelta(minutes=8)
        )
        metric_points_record(
            job=running,
            points=[{"step": 8, "train_loss": 0.75, "total_steps": 32}, {"step": 4, "train_loss": 1.5}],
        )
        metric_points_record(job=paid, points=[{"step": 2, "train_loss": 0.5}])

        html = member_client.get(reverse("jobs:list", args=[cast.project.slug])).content.decode()
        rows = {
            pk: html.split(f'<tr data-job="{pk}">', 1)[1].split("</tr>", 1)[0]
            for pk in (cancelled.pk, paid.pk, running.pk)
        }

        assert "≈ $0.83<small> est.</small>" in rows[cancelled.pk]
        assert "reported no actual cost for this cancelled run" in rows[cancelled.pk]
        assert "$1.25" in rows[paid.pk]
        assert "est." not in rows[paid.pk]
        assert "<progress" in rows[running.pk]
        assert "step 8 / 32" in rows[running.pk]
        assert re.search(r"· 2\dm \d\ds left", rows[running.pk]), "about three times the 8 minutes so far"
        assert "<progress" not in rows[paid.pk]
        assert "0.7500" in rows[running.pk]
        assert "0.5000" in rows[paid.pk]


class TestComparePage:
    def test_it_shows_runs_and_highlights_differences(self, member_client, cast):
        a = make_job(cast.project, name="alpha", hyperparameters={"n_epochs": 3, "batch_size": 8})
        b = make_job(cast.project, name="beta", provider="local_peft", hyperparameters={"n_epochs": 3})
        url = reverse("jobs:compare", args=[cast.project.slug]) + f"?ids={a.pk},{b.pk}"

        content = member_client.get(url).content.decode()

        assert "alpha" in content
        assert "beta" in content
        assert 'data-differs="true"><th scope="row">Batch size' in content
        assert 'data-differs="false"><th scope="row">Epochs' in content
        assert "Local GPU (PEFT):" in content

    def test_a_run_of_another_project_is_a_404(self, member_client, cast):
        mine = make_job(cast.project)
        theirs = make_job(cast.other_project, name="secret-run")
        url = reverse("jobs:compare", args=[cast.project.slug]) + f"?ids={mine.pk},{theirs.pk}"
        response = member_client.get(url)
        assert response.status_code == 404
        assert b"secret-run" not in response.content

    def test_one_run_is_sent_back_to_the_list_with_a_message(self, member_client, cast):
        mine = make_job(cast.project)
        url = reverse("jobs:compare", args=[cast.project.slug]) + f"?ids={mine.pk}"
        response = member_client.get(url, follow=True)
        assert response.redirect_chain[-1][0] == reverse("jobs:list", args=[cast.project.slug])
        assert "Pick 2 to 10 runs" in response.content.decode()

    def test_csv_export(self, member_client, cast):
        a = make_job(cast.project, name="alpha")
        b = make_job(cast.project, name="beta")
        metric_points_record(job=a, points=[{"step": 3, "train_loss": 0.25}])
        url = reverse("jobs:compare", args=[cast.project.slug]) + f"?ids={a.pk},{b.pk}&format=csv"

        response = member_client.get(url)

        assert response["Content-Type"].startswith("text/csv")
        assert "attachment" in response["Content-Disposition"]
        rows = {row[0]: row[1:] for row in csv.reader(io.StringIO(response.content.decode()))}
        assert rows["final train loss"] == ["0.25", ""]


def test_ticked_boxes_without_javascript_land_on_the_shareable_url(member_client, cast):
    url = reverse("jobs:compare", args=[cast.project.slug]) + "?run=4&run=9"
    response = member_client.get(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("jobs:compare", args=[cast.project.slug]) + "?ids=4,9"


class TestLiveFragment:
    def live_url(self, job, version):
        return reverse("jobs:detail", args=[job.project.slug, job.pk]) + f"?part=live&v={version}"

    def version_on_page(self, client, job):
        import re

        page = client.get(reverse("jobs:detail", args=[job.project.slug, job.pk])).content.decode()
        return re.search(r"part=live&amp;v=([^\"]+)\"", page).group(1)

    def test_unchanged_is_204_and_a_change_renders_events_and_status(self, member_client, cast):
        job = make_job(cast.project, status="running", created_by=cast.member)
        version = self.version_on_page(member_client, job)
        htmx = {"HX-Request": "true"}

        unchanged = member_client.get(self.live_url(job, version), headers=htmx)
        job_event_record(job=job, message="Step 10/100: training loss=0.5")
        changed = member_client.get(self.live_url(job, version), headers=htmx)

        assert unchanged.status_code == 204
        assert unchanged.content == b""
        body = changed.content.decode()
        assert changed.status_code == 200
        assert "Step 10/100" in body
        assert 'id="job-status" class="job-status" hx-swap-oob="true"' in body
        assert "part=live&amp;v=" in body
        assert f"v={version}" not in body

    def test_progress_and_status_moves_change_the_version(self, member_client, cast):
        from datetime import timedelta

        from django.utils import timezone

        from finetune_portal.jobs.services import job_transition

        job = make_job(cast.project, status="running", created_by=cast.member)
        first = self.version_on_page(member_client, job)
        metric_points_record(job=job, points=[{"step": 1, "train_loss": 0.5}])
        # Progress counts once per refresh period: a point a minute later changes the version.
        job.last_progress_at = timezone.now() + timedelta(minutes=1)
        job.save(update_fields=["last_progress_at"])
        second = self.version_on_page(member_client, job)
        job_transition(job=job, to="succeeded")

        final = member_client.get(self.live_url(job, second), headers={"HX-Request": "true"})

        assert first != second
        assert final.status_code == 286
        assert "Succeeded" in final.content.decode()
        assert "hx-trigger" not in final.content.decode()

    def test_an_outsider_gets_404_even_with_a_version(self, client, cast):
        job = make_job(cast.other_project, status="running")
        client.login(username=cast.member.username, password=PASSWORD)
        response = client.get(self.live_url(job, "0-0-0"), headers={"HX-Request": "true"})
        assert response.status_code == 404


def test_costs_below_a_cent_are_not_shown_as_free():
    from decimal import Decimal

    from finetune_portal.jobs.templatetags.job_figures import usd

    assert usd(Decimal("0.0032")) == "$0.0032"
    assert usd(Decimal("0.000031")) == "$0.000031"
    assert usd(Decimal("4.2")) == "$4.20"
    assert usd(Decimal("0")) == "$0.00"
    assert usd(None) == "—"


class TestSharedLiveFragment:
    def fragment(self, client, job, part="status"):
        url = reverse("jobs:detail", args=[job.project.slug, job.pk]) + f"?part={part}"
        return client.get(url, HTTP_HX_REQUEST="true")

    def test_viewers_share_one_render_per_version_without_a_csrf_token(self, client, cast):
        job = make_job(cast.project, name="shared", created_by=cast.ml_lead, status="running")
        client.login(username=cast.admin.username, password=PASSWORD)
        with CaptureQueriesContext(connection) as rendering:
            first = self.fragment(client, job)
        client.login(username=cast.ml_lead.username, password=PASSWORD)

        with CaptureQueriesContext(connection) as reusing:
            second = self.fragment(client, job)

        assert second.content == first.content
        # The second viewer's answer comes from the first render: no progress, event or timeline reads.
        assert len(reusing.captured_queries) < len(rendering.captured_queries)
        assert b"csrfmiddlewaretoken" not in second.content
        assert b"hx-post" in second.content

    def test_who_may_not_cancel_never_gets_a_cached_cancel_button(self, client, cast):
        job = make_job(cast.project, name="leads-run", created_by=cast.ml_lead, status="running")
        client.login(username=cast.ml_lead.username, password=PASSWORD)
        assert b"Cancel job" in self.fragment(client, job).content

        client.login(username=cast.member.username, password=PASSWORD)
        assert b"Cancel job" not in self.fragment(client, job).content

    def test_a_new_event_makes_a_new_fragment(self, member_client, cast):
        job = make_job(cast.project, status="running")
        before = self.fragment(member_client, job, part="events").content
        job_event_record(job=job, message="Step 9/10: training loss=0.12")

        after = self.fragment(member_client, job, part="events").content

        assert b"Step 9/10" not in before
        assert b"Step 9/10" in after

    def test_the_full_page_keeps_its_token_for_browsers_without_javascript(self, member_client, cast):
        job = make_job(cast.project, created_by=cast.member, status="running")
        page = member_client.get(reverse("jobs:detail", args=[cast.project.slug, job.pk]))
        assert b"csrfmiddlewaretoken" in page.content

    def test_cancel_posted_by_htmx_reloads_the_page(self, member_client, cast):
        job = make_job(cast.project, created_by=cast.member, status="queued")
        url = reverse("jobs:cancel", args=[cast.project.slug, job.pk])

        response = member_client.post(url, HTTP_HX_REQUEST="true")

        assert response["HX-Redirect"] == reverse("jobs:detail", args=[cast.project.slug, job.pk])
        job.refresh_from_db()
        assert job.status == "cancelled"


def test_a_launch_while_the_task_queue_is_down_is_saved_and_says_so(
    member_client, cast, django_capture_on_commit_callbacks
):
    from finetune_portal.celery import app
    from finetune_portal.jobs.models import FineTuningJob
    from finetune_portal.providers.peft.form_fields import DEFAULTS

    version = make_version(make_dataset(cast.project, kind="chat"), example_count=20)
    form = {**DEFAULTS, "provider": "local_peft", "method": "sft", "base_model": "demo:tiny"}
    form["training_version"] = version.pk
    with broker_for_test(app, DEAD_BROKER), django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(reverse("jobs:new", args=[cast.project.slug]), form)

    assert response.status_code == 302, response.context["form"].errors
    job = FineTuningJob.objects.get(project=cast.project)
    assert response["Location"] == reverse("jobs:detail", args=[cast.project.slug, job.pk])
    assert job.status == "queued"
    page = member_client.get(response["Location"]).content.decode()
    assert "the task queue did not answer" in page


class TestPauseAndResume:
    def page(self, client, job):
        return client.get(reverse("jobs:detail", args=[job.project.slug, job.pk])).content.decode()

    def test_a_running_openai_job_offers_pause_and_a_paused_one_resume(self, member_client, cast):
        running = make_job(cast.project, created_by=cast.member, status="running", provider_job_id="ftjob-1")
        paused = make_job(cast.project, created_by=cast.member, status="paused", provider_job_id="ftjob-2")
        local = make_job(cast.project, created_by=cast.member, status="running", provider="local_peft")

        assert ">Pause</button>" in self.page(member_client, running)
        assert ">Resume</button>" not in self.page(member_client, running)
        assert ">Resume</button>" in self.page(member_client, paused)
        assert ">Pause</button>" not in self.page(member_client, local), "a local run cannot be paused"
        assert ">Cancel job</button>" in self.page(member_client, local)

    def test_pause_is_requested_audited_and_sent_after_commit(
        self, member_client, cast, django_capture_on_commit_callbacks
    ):
        from finetune_portal.core.models import AuditEntry

        job = make_job(cast.project, created_by=cast.member, status="running", provider_job_id="ftjob-1")
        url = reverse("jobs:pause", args=[cast.project.slug, job.pk])

        with django_capture_on_commit_callbacks() as sent:
            response = member_client.post(url, follow=True)

        assert "Pause requested; the status changes when OpenAI confirms." in response.content.decode()
        assert len(task_sends(sent)) == 1
        assert AuditEntry.objects.filter(action="job.pause_requested", target_id=str(job.pk)).exists()
        job.refresh_from_db()
        assert job.status == "running", "the status follows OpenAI's answer, not the click"

    def test_a_pause_the_task_queue_cannot_take_asks_to_try_again(
        self, member_client, cast, django_capture_on_commit_callbacks
    ):
        from finetune_portal.celery import app

        job = make_job(cast.project, created_by=cast.member, status="running", provider_job_id="ftjob-1")
        with broker_for_test(app, DEAD_BROKER), django_capture_on_commit_callbacks(execute=True):
            member_client.post(reverse("jobs:pause", args=[cast.project.slug, job.pk]))

        warning = job.events.get(level="warn")
        assert "its pause request could not be handed to the workers" in warning.message
        assert warning.message.endswith("Nothing changed; try again once the queue is back.")
        job.refresh_from_db()
        assert job.status == "running"

    def test_resuming_a_job_that_is_not_paused_says_why(self, member_client, cast):
        job = make_job(cast.project, created_by=cast.member, status="succeeded", provider_job_id="ftjob-1")

        response = member_client.post(reverse("jobs:resume", args=[cast.project.slug, job.pk]), follow=True)

        assert "This job is succeeded and cannot be resumed." in response.content.decode()

    def test_only_the_launcher_or_an_ml_lead_may_pause(self, client, cast):
        job = make_job(cast.project, created_by=cast.ml_lead, status="running", provider_job_id="ftjob-1")
        client.login(username=cast.member.username, password=PASSWORD)

        assert ">Pause</button>" not in self.page(client, job)
        response = client.post(reverse("jobs:pause", args=[cast.project.slug, job.pk]))
        assert response.status_code == 403


class TestOutputs:
    def page(self, client, job, **query):
        url = reverse("jobs:detail", args=[job.project.slug, job.pk])
        return client.get(url, query, **({"HTTP_HX_REQUEST": "true"} if query else {})).content.decode()

    def test_a_local_run_shows_its_adapter_and_downloadable_checkpoints(self, member_client, cast):
        import zipfile

        from django.core.files.base import ContentFile
        from django.core.files.storage import default_storage

        from finetune_portal.registry.models import FineTunedModel

        job = make_job(cast.project, created_by=cast.member, status="succeeded", provider="local_peft")
        prefix = f"peft/{cast.project.pk}/job-{job.pk}"
        default_storage.save(f"{prefix}/checkpoint-15/adapter_model.safetensors", ContentFile(b"w15"))
        checkpoint_record(
            job=job,
            step=15,
            storage_uri=f"{prefix}/checkpoint-15",
            metrics={"train_loss": 1.5, "valid_loss": 1.75},
        )
        model = FineTunedModel.objects.create(job=job, adapter_uri=f"{prefix}/final", base_model="demo:tiny")

        page = self.page(member_client, job)

        assert 'data-testid="fine-tuned-model"' in page
        assert reverse("registry:download", args=[cast.project.slug, model.pk]) in page
        download = reverse("jobs:checkpoint_download", args=[cast.project.slug, job.pk, 15])
        assert download in page
        assert "1.5000" in page
        assert "1.7500" in page
        response = member_client.get(download)
        assert response["Content-Disposition"].endswith(f'filename="job-{job.pk}-checkpoint-15.zip"')
        with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as bundle:
            assert bundle.read(f"job-{job.pk}-checkpoint-15/adapter_model.safetensors") == b"w15"
        assert member_client.get(download.replace("/15/", "/16/")).status_code == 404

    def test_openai_checkpoints_and_model_offer_their_ids_to_copy(self, member_client, cast):
        from finetune_portal.registry.models import FineTunedModel

        job = make_job(cast.project, created_by=cast.member, status="succeeded", provider_job_id="ftjob-1")
        checkpoint_record(job=job, step=10, provider_checkpoint_id="ft:gpt-4o-mini:acme::abc:ckpt-step-10")
        FineTunedModel.objects.create(job=job, provider_model_id="ft:gpt-4o-mini:acme::abc", base_model="m")

        page = self.page(member_client, job)

        assert 'data-copy="ft:gpt-4o-mini:acme::abc"' in page
        assert 'data-copy="ft:gpt-4o-mini:acme::abc:ckpt-step-10"' in page
        assert "Download (.zip)" not in page
        download = reverse("jobs:checkpoint_download", args=[cast.project.slug, job.pk, 10])
        assert member_client.get(download).status_code == 404

    def test_the_live_refresh_brings_outputs_as_they_appear(self, member_client, cast):
        job = make_job(cast.project, created_by=cast.member, status="running", provider="local_peft")
        assert "Outputs" not in self.page(member_client, job, part="live")

        checkpoint_record(job=job, step=5, storage_uri="peft/x/checkpoint-5")
        job_event_record(job=job, message="Checkpoint saved at step 5.", provider_event_id="checkpoint-5")
        live = self.page(member_client, job, part="live")

        assert 'id="job-outputs" class="job-outputs" hx-swap-oob="true"' in live
        assert reverse("jobs:checkpoint_download", args=[cast.project.slug, job.pk, 5]) in live


class TestNewJobFromSettings:
    def test_a_local_jobs_settings_fill_the_form_and_launch_an_equal_job(self, member_client, cast):
        from finetune_portal.jobs.models import FineTuningJob
        from finetune_portal.providers.peft.form_fields import DEFAULTS

        train = make_version(make_dataset(cast.project, kind="chat"), example_count=20)
        hyperparameters = {**DEFAULTS, "learning_rate": 0.0007, "lora_rank": 32, "batch_size": 2, "seed": 7}
        source = make_job(
            cast.project,
            created_by=cast.member,
            status="failed",
            provider="local_peft",
            name="colours",
            base_model="demo:tiny",
            training_version=train,
            hyperparameters=hyperparameters,
            seed=7,
        )

        response = member_client.get(reverse("jobs:new", args=[cast.project.slug]), {"from": source.pk})

        form = response.context["form"]
        assert response.context["provider"] == "local_peft"
        assert form["learning_rate"].value() == 0.0007
        assert form["lora_rank"].value() == 32
        assert form["name"].value() == "colours (copy)"
        page = response.content.decode()
        assert 'data-testid="copied-from"' in page
        assert 'value="0.0007"' in page, "the tiny model's suggested rate does not replace the copied one"

        data = {
            name: ("on" if value is True else "" if value is False else value)
            for name, value in {**form.initial, "provider": "local_peft"}.items()
            if value is not None
        }
        member_client.post(reverse("jobs:new", args=[cast.project.slug]), data)
        copy = FineTuningJob.objects.exclude(pk=source.pk).get()
        assert copy.status == "queued"
        assert copy.hyperparameters == source.hyperparameters
        assert (copy.seed, copy.training_version, copy.base_model) == (7, train, "demo:tiny")

    def test_an_openai_jobs_grader_and_settings_are_copied(self, member_client, cast):
        grader = {
            "type": "string_check",
            "name": "exact",
            "input": "{{sample.output_text}}",
            "reference": "{{item.answer}}",
            "operation": "eq",
        }
        source = make_job(
            cast.project,
            created_by=cast.member,
            method="rft",
            base_model="o4-mini-2025-04-16",
            hyperparameters={"n_epochs": 2, "reasoning_effort": "low"},
            provider_data={"grader": grader},
            suffix="support",
        )

        response = member_client.get(reverse("jobs:new", args=[cast.project.slug]), {"from": source.pk})

        form = response.context["form"]
        assert response.context["provider"] == "openai"
        assert form["n_epochs"].value() == 2
        assert form["reasoning_effort"].value() == "low"
        assert form["suffix"].value() == "support"
        assert json.loads(form["grader"].value()) == grader

    def test_the_job_page_links_to_it_for_those_who_may_launch(self, member_client, cast):
        job = make_job(cast.project, created_by=cast.member, status="succeeded")
        page = member_client.get(reverse("jobs:detail", args=[cast.project.slug, job.pk])).content.decode()
        assert f"/jobs/new/?from={job.pk}" in page

    def test_another_projects_job_is_a_404(self, member_client, cast):
        other = make_job(cast.other_project)
        url = reverse("jobs:new", args=[cast.project.slug])
        assert member_client.get(url, {"from": other.pk}).status_code == 404
        assert member_client.get(url, {"from": "x"}).status_code == 404


def test_step_lines_fold_into_a_training_log_and_the_other_events_stay_in_view(member_client, cast):
    job = make_job(cast.project, status="running")
    job_event_record(job=job, message="Training started: 135 steps.", provider_event_id="train-start")
    for step in range(1, 41):
        job_event_record(
            job=job, message=f"Step {step}/135: training loss 1.0", provider_event_id=f"step-{step}"
        )
    job_event_record(job=job, message="Step 20: validation loss 0.9", provider_event_id="eval-20")
    job_event_record(job=job, message="Checkpoint saved at step 30.", provider_event_id="checkpoint-30")
    url = reverse("jobs:detail", args=[cast.project.slug, job.pk])

    for response in (
        member_client.get(url),
        member_client.get(url + "?part=events", headers={"HX-Request": "true"}),
    ):
        html = response.content.decode()
        visible, folded = html.split('<details class="step-log"', 1)
        folded = folded.split("</details>", 1)[0]
        for notable in ("Training started", "validation loss 0.9", "Checkpoint saved"):
            assert notable in visible
        assert "training loss" not in visible
        assert "Training log: 40 step lines" in folded
        assert folded.count("training loss 1.0") == 40
        assert folded.index("Step 40/135") < folded.index("Step 1/135")
