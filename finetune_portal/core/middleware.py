"""Request handling every page shares."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.urls import Resolver404, resolve


class PortalNotFoundMiddleware:
    """Under DEBUG (``make run``) Django answers a 404 with its technical page, listing the URL patterns;
    the portal's own page (layout and a way back) is what a user trying the portal should see, for an
    address that matches no URL as for a view's 404. (Without DEBUG, Django renders 404.html itself.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.DEBUG:
            try:
                resolve(request.path_info)
            except Resolver404 as exc:
                # Returned as a response, so CommonMiddleware still redirects "/page" to "/page/".
                return render(request, "404.html", {"exception": exc}, status=404)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if settings.DEBUG and isinstance(exception, Http404):
            return render(request, "404.html", {"exception": exception}, status=404)
        return None
