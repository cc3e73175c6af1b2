from django.urls import path

from finetune_portal.evaluations import views

app_name = "evaluations"

urlpatterns = [
    path("", views.evaluation_list, name="list"),
    path("new/", views.evaluation_new, name="new"),
    path("<int:evaluation_id>/", views.evaluation_detail, name="detail"),
    path("<int:evaluation_id>/progress/", views.evaluation_progress_part, name="progress"),
    path("<int:evaluation_id>/result.json", views.evaluation_download, name="download"),
    path("<int:evaluation_id>/cancel/", views.evaluation_cancel_view, name="cancel"),
    path("<int:evaluation_id>/items/<int:index>/fix/", views.evaluation_fix_view, name="fix"),
    path("when-job-succeeds/<int:job_id>/", views.evaluation_on_success_view, name="on_success"),
    path("of-job/<int:job_id>/", views.evaluation_job_panel, name="job_panel"),
]
