"""What other apps may listen to about jobs, so jobs never needs to know who listens.

``job_status_changed`` is sent once a status move is committed (never for a move rolled back), with
``job_id``, ``from_status``, ``to_status`` and ``actor_id`` (None for a worker or the system).
"""

from __future__ import annotations

from django.dispatch import Signal

job_status_changed = Signal()
