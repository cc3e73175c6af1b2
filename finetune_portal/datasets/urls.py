from django.urls import path

from finetune_portal.datasets.views import dataset_pages, derived, diff, lifecycle, upload, version_page

app_name = "datasets"

urlpatterns = [
    path("", dataset_pages.dataset_list, name="list"),
    path("new/", dataset_pages.dataset_new, name="new"),
    path("<int:dataset_id>/", dataset_pages.dataset_detail, name="detail"),
    path("<int:dataset_id>/upload/", upload.dataset_upload, name="upload"),
    path("<int:dataset_id>/csv/<str:token>/", upload.dataset_csv_mapping, name="csv_mapping"),
    path("<int:dataset_id>/diff/", diff.dataset_diff, name="diff"),
    path("<int:dataset_id>/archive/", lifecycle.dataset_archive_view, name="archive"),
    path("<int:dataset_id>/delete/", lifecycle.dataset_delete_view, name="delete"),
    path("<int:dataset_id>/v/<int:number>/", version_page.version_detail, name="version"),
    path("<int:dataset_id>/v/<int:number>/download/", version_page.version_download, name="download"),
    path("<int:dataset_id>/v/<int:number>/split/", derived.version_split, name="split"),
    path("<int:dataset_id>/v/<int:number>/convert/", derived.version_convert, name="convert"),
    path("<int:dataset_id>/v/<int:number>/archive/", lifecycle.version_archive_view, name="version_archive"),
    path("<int:dataset_id>/v/<int:number>/delete/", lifecycle.version_delete_view, name="version_delete"),
]
