from django.urls import path

from finetune_portal.datasets import views

app_name = "datasets"

urlpatterns = [
    path("", views.dataset_list, name="list"),
    path("new/", views.dataset_new, name="new"),
    path("<int:dataset_id>/", views.dataset_detail, name="detail"),
    path("<int:dataset_id>/upload/", views.dataset_upload, name="upload"),
    path("<int:dataset_id>/csv/<str:token>/", views.dataset_csv_mapping, name="csv_mapping"),
    path("<int:dataset_id>/diff/", views.dataset_diff, name="diff"),
    path("<int:dataset_id>/archive/", views.dataset_archive_view, name="archive"),
    path("<int:dataset_id>/delete/", views.dataset_delete_view, name="delete"),
    path("<int:dataset_id>/v/<int:number>/", views.version_detail, name="version"),
    path("<int:dataset_id>/v/<int:number>/download/", views.version_download, name="download"),
    path("<int:dataset_id>/v/<int:number>/split/", views.version_split, name="split"),
    path("<int:dataset_id>/v/<int:number>/convert/", views.version_convert, name="convert"),
    path("<int:dataset_id>/v/<int:number>/archive/", views.version_archive_view, name="version_archive"),
    path("<int:dataset_id>/v/<int:number>/delete/", views.version_delete_view, name="version_delete"),
]
