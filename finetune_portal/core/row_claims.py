"""Claiming work rows with one compare-and-set, so two deliveries of the same task never take a row twice.

A row type that uses it has ``status``, ``claimed_at`` and ``claim`` fields; the caller says which rows
are claimable (waiting ones, and running ones whose claim went stale) and in what order they are taken.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import Q, QuerySet


def claim_rows(
    rows: QuerySet, claimable: Q, *, order_by: tuple[str, ...], limit: int, running: str, now: datetime
) -> str:
    """Mark up to ``limit`` of ``rows`` that are still ``claimable`` as ``running`` under a new claim token,
    and return the token: the rows carrying it are this caller's alone."""
    candidates = list(rows.filter(claimable).order_by(*order_by).values_list("pk", flat=True)[:limit])
    token = uuid.uuid4().hex
    rows.model.objects.filter(claimable, pk__in=candidates).update(
        status=running, claimed_at=now, claim=token
    )
    return token
