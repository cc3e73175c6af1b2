from django.urls import path

from finetune_portal.providers.openai import views

app_name = "openai_provider"

urlpatterns = [
    path("", views.account, name="account"),
    path("launch-hints/", views.launch_hints, name="launch_hints"),
    path("import/", views.import_jobs, name="import"),
]
