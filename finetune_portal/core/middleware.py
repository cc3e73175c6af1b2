"""Request handling every page shares."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.shortcuts import render


class PortalNotFoundMiddleware:
    """Under DEBUG (``make run``) Django answers a view's 404 with its technical page; the portal's own
    page (layout and a way back) is what a user trying the portal should see. An address that matches no
    URL still gets Django's page, which lists the URL patterns for the developer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if settings.DEBUG and isinstance(exception, Http404):
            return render(request, "404.html", {"exception": exception}, status=404)
        return None
