from django.urls import path

from finetune_portal.captures import views

app_name = "captures"

urlpatterns = [
    path("new/", views.capture_new, name="new"),
    path("<int:capture_id>/", views.capture_detail, name="detail"),
    path("<int:capture_id>/progress/", views.capture_progress_part, name="progress"),
    path("<int:capture_id>/cancel/", views.capture_cancel_view, name="cancel"),
]
