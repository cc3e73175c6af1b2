from django.urls import path

from finetune_portal.exits import views

app_name = "exits"

urlpatterns = [
    path("p/<slug:slug>/exit/", views.exit_page, name="project"),
    path("p/<slug:slug>/exit/retrain/<int:job_id>/", views.retrain, name="retrain"),
    path("p/<slug:slug>/exit/parity/<int:job_id>/", views.parity, name="parity"),
    path("exit/", views.exit_overview, name="overview"),
]
