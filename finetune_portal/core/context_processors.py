from __future__ import annotations

from django.conf import settings


def portal(request):
    return {"PORTAL_NAME": "finetune_portal", "DEBUG": settings.DEBUG}
