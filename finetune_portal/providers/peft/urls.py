from django.urls import path

from finetune_portal.providers.peft import views

app_name = "peft_provider"

urlpatterns = [
    path("form/", views.peft_form_refresh, name="form"),
]
