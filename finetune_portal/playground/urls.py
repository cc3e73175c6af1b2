from django.urls import path

from finetune_portal.playground import views

app_name = "playground"

urlpatterns = [
    path("", views.playground, name="page"),
    path("answer/", views.answer_stream, name="answer"),
    path("add-to-dataset/", views.add_to_dataset, name="add_to_dataset"),
    path("probes/", views.probe_list, name="probes"),
    path("probes/save/", views.probe_save_view, name="probe_save"),
    path("probes/run/", views.probe_run, name="probe_run"),
    path("probes/grid/", views.probe_grid_part, name="probe_grid"),
    path("probes/<int:probe_id>/delete/", views.probe_delete_view, name="probe_delete"),
]
