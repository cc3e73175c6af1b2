from django.urls import path

from finetune_portal.sweeps import views

app_name = "sweeps"

urlpatterns = [
    path("", views.sweep_list, name="list"),
    path("new/", views.sweep_new, name="new"),
    path("<int:sweep_id>/", views.sweep_detail, name="detail"),
    path("<int:sweep_id>/cancel-rest/", views.sweep_cancel_rest_view, name="cancel_rest"),
]
