"""/v1 requests skip the middleware that only pages need.

A /v1 call authenticates with a bearer token (api/auth.py), never with the session; it carries no CSRF
token and posts no form; it answers JSON or server-sent events, never a page. Sessions, CSRF, the login
and its lockouts (axes), messages, htmx, WhiteNoise's static files and the portal's 404 page do nothing
for it, yet each runs on every call, and under ASGI the view-level hooks (CSRF's and the login's
``process_view``) each cost a hop between the event loop and a thread. So this middleware, placed after
the ones that guard every answer (SecurityMiddleware: HTTPS redirect, HSTS, nosniff; CSP; frame
options), hands a /v1 request straight to its view.

What the skipped middleware would have done for /v1 is done here: the Host header is checked against
ALLOWED_HOSTS (CommonMiddleware's ``get_host()``), and a whole answer gets its Content-Length, so
clients keep their connection open (WSGI servers close one whose length is unknown).

Only views that declare they need neither (csrf_exempt and login_not_required, as every /v1 resource
is: api/dispatch.py) take the short way; any other goes through the whole stack. It is sync-only, like
the page middleware below it: under ASGI the chain then runs in one thread hop.
"""

from __future__ import annotations

from django.urls import resolve

PREFIX = "/v1/"


class ApiPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(PREFIX):
            return self.get_response(request)
        request.get_host()  # DisallowedHost (a 400) for a host outside ALLOWED_HOSTS
        match = resolve(request.path_info)
        view = match.func
        if not getattr(view, "csrf_exempt", False) or getattr(view, "login_required", True):
            return self.get_response(request)
        request.resolver_match = match
        response = view(request, *match.args, **match.kwargs)
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))
        return response
