from django.urls import path

from finetune_portal.jobs.views import actions, compare, detail, downloads, live, new, runs_list

app_name = "jobs"

urlpatterns = [
    path("", runs_list.job_list, name="list"),
    path("new/", new.job_new, name="new"),
    path("compare/", compare.job_compare, name="compare"),
    path("live/", live.job_live, name="live"),
    path("live/runs/", live.runs_live, name="runs_live"),
    path("<int:job_id>/", detail.job_detail, name="detail"),
    path("<int:job_id>/metrics/", live.job_metrics, name="metrics"),
    path("<int:job_id>/cancel/", actions.job_cancel_view, name="cancel"),
    path(
        "<int:job_id>/checkpoints/<int:step>/download/",
        downloads.checkpoint_download,
        name="checkpoint_download",
    ),
    path("<int:job_id>/pause/", actions.job_pause_view, {"action": "pause"}, name="pause"),
    path("<int:job_id>/approve/", actions.job_approval_view, {"action": "approve"}, name="approve"),
    path("<int:job_id>/reject/", actions.job_approval_view, {"action": "reject"}, name="reject"),
    path("<int:job_id>/resume/", actions.job_pause_view, {"action": "resume"}, name="resume"),
]
