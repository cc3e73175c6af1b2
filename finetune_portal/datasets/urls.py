from django.urls import path

from finetune_portal.datasets import views

app_name = "datasets"

urlpatterns = [
    path("", views.dataset_list, name="list"),
    path("<int:dataset_id>/", views.dataset_detail, name="detail"),
]
