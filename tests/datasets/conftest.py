from __future__ import annotations

import pytest


@pytest.fixture
def eager_celery():
    """Run enqueued tasks in-process, through Celery's real task machinery."""
    from finetune_portal.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = previous
