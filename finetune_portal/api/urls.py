from django.urls import path

from finetune_portal.api import views

app_name = "api"

urlpatterns = [
    path("", views.tokens_page, name="tokens"),
    path("<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
]
