from django.urls import path

from finetune_portal.registry import views

app_name = "registry"

urlpatterns = [
    path("", views.model_list, name="list"),
    path("<int:model_id>/download/", views.model_download, name="download"),
]
