"""Posting to a project's chat webhook without letting its URL reach into the portal's own network.

A project admin (not only a site admin) sets the URL, and the worker that posts it may sit next to the
database, a metadata service or the model server. So the host must not be this machine, a link-local
address (cloud metadata lives there) or an address no one can own; private ranges stay allowed because
self-hosted chat servers (Mattermost, Rocket.Chat) usually live in them. Redirects are not followed:
a redirect could point anywhere after the check.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings

from finetune_portal.notifications.models import ProjectWebhook


class DeliveryFailed(Exception):
    """The mail server or the webhook did not take the message; worth trying again later."""


def _refused_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return not settings.NOTIFICATION_WEBHOOK_ALLOW_LOOPBACK
    return ip.is_link_local or ip.is_unspecified or ip.is_multicast or ip.is_reserved


def webhook_url_problem(url: str, *, resolve: bool) -> str | None:
    """Why the portal will not post to ``url``, or None. ``resolve`` looks the host name up too (at send
    time); without it only a literal address or "localhost" is judged (when the URL is saved)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "The webhook must be an http(s) URL with a host."
    host = parts.hostname.rstrip(".").lower()
    refusal = (
        f"The webhook's host {host} is this machine or an internal address; the portal does not post there."
    )
    if host == "localhost" or host.endswith(".localhost"):
        return None if settings.NOTIFICATION_WEBHOOK_ALLOW_LOOPBACK else refusal
    try:
        return refusal if _refused_address(host) else None
    except ValueError:
        pass  # a name, not an address
    if not resolve:
        return None
    try:
        found = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError) as exc:
        return f"The webhook's host {host} could not be looked up: {exc}."
    if any(_refused_address(str(info[4][0]).split("%")[0]) for info in found):
        return refusal
    return None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise DeliveryFailed(f"The webhook answered with a redirect (HTTP {code}); it is not followed.")


_opener = urllib.request.build_opener(_NoRedirects)


def webhook_post(*, project_id: int, text: str) -> None:
    """POST Slack-compatible JSON ({"text": ...}) to the project's webhook."""
    hook = ProjectWebhook.objects.filter(project_id=project_id).first()
    if hook is None:
        return
    problem = webhook_url_problem(hook.url, resolve=True)
    if problem:
        raise DeliveryFailed(problem)
    request = urllib.request.Request(  # noqa: S310 - scheme and host checked above
        hook.url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "finetune_portal"},
        method="POST",
    )
    try:
        with _opener.open(request, timeout=settings.NOTIFICATION_WEBHOOK_TIMEOUT) as answer:
            answer.read(1024)
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"The webhook answered HTTP {exc.code}.") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryFailed(f"The webhook could not be reached: {reason}.") from exc
