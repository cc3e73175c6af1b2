"""Authentication backends."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from axes.backends import AxesStandaloneBackend


class AxesBackend(AxesStandaloneBackend):
    """django-axes' lockout check, also on Django's async sign-in path.

    ``django.contrib.auth.aauthenticate`` asks every backend for ``aauthenticate``; axes 8 only has the
    synchronous method, so an async sign-in (e.g. ``Client.alogin``) failed with AttributeError.
    """

    async def aauthenticate(self, request, **credentials):
        return await sync_to_async(self.authenticate)(request, **credentials)
