from django.urls import path

from finetune_portal.notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.project_notifications, name="project"),
    path("test/", views.webhook_test, name="webhook_test"),
]
