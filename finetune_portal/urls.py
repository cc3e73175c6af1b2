from django.contrib import admin
from django.urls import include, path

from finetune_portal.core import views as core_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("finetune_portal.accounts.urls")),
    path("healthz", core_views.healthz, name="healthz"),
    # The OpenAI-compatible endpoint (token auth, OpenAI's wire format) and the tokens page.
    path("v1/", include("finetune_portal.api.v1.urls")),
    path("account/tokens/", include("finetune_portal.api.urls")),
    path("credentials/", include("finetune_portal.credentials.urls")),
    path("", include("finetune_portal.exits.urls")),
    path("", include("finetune_portal.projects.urls")),
    path("p/<slug:slug>/datasets/", include("finetune_portal.datasets.urls")),
    path("p/<slug:slug>/jobs/", include("finetune_portal.jobs.urls")),
    path("p/<slug:slug>/sweeps/", include("finetune_portal.sweeps.urls")),
    path("p/<slug:slug>/models/", include("finetune_portal.registry.urls")),
    path("p/<slug:slug>/playground/", include("finetune_portal.playground.urls")),
    path("p/<slug:slug>/evaluations/", include("finetune_portal.evaluations.urls")),
    path("p/<slug:slug>/captures/", include("finetune_portal.captures.urls")),
    path("p/<slug:slug>/local-gpu/", include("finetune_portal.providers.peft.urls")),
    path("p/<slug:slug>/notifications/", include("finetune_portal.notifications.urls")),
    path("p/<slug:slug>/openai/", include("finetune_portal.providers.openai.urls")),
]
