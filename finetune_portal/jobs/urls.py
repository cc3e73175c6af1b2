from django.urls import path

from finetune_portal.jobs import views

app_name = "jobs"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("new/", views.job_new, name="new"),
    path("compare/", views.job_compare, name="compare"),
    path("live/", views.job_live, name="live"),
    path("<int:job_id>/", views.job_detail, name="detail"),
    path("<int:job_id>/metrics/", views.job_metrics, name="metrics"),
    path("<int:job_id>/cancel/", views.job_cancel_view, name="cancel"),
    path(
        "<int:job_id>/checkpoints/<int:step>/download/",
        views.checkpoint_download,
        name="checkpoint_download",
    ),
    path("<int:job_id>/pause/", views.job_pause_view, {"action": "pause"}, name="pause"),
    path("<int:job_id>/approve/", views.job_approval_view, {"action": "approve"}, name="approve"),
    path("<int:job_id>/reject/", views.job_approval_view, {"action": "reject"}, name="reject"),
    path("<int:job_id>/resume/", views.job_pause_view, {"action": "resume"}, name="resume"),
]
