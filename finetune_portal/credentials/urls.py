from django.urls import path

from finetune_portal.credentials import views

app_name = "credentials"

urlpatterns = [
    path("", views.site_credentials, name="site"),
    path("project/<slug:slug>/", views.project_credentials, name="project"),
    path("<int:credential_id>/test/", views.credential_test_view, name="test"),
    path("<int:credential_id>/revoke/", views.credential_revoke_view, name="revoke"),
]
