"""The Celery app: three queues, late acks, and the beat schedule of the pollers."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from celery import Celery
from kombu import Queue
from kombu.exceptions import ChannelError, KombuError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finetune_portal.settings")

logger = logging.getLogger(__name__)

app = Celery("finetune_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")

QUEUES = ("default", "openai", "gpu")
# A training task's hard time limit is its soft limit (PEFT_TRAINING_TIME_LIMIT_SECONDS) plus this.
TRAINING_HARD_LIMIT_GRACE_SECONDS = 300

app.conf.update(
    task_queues=[Queue(name) for name in QUEUES],
    task_default_queue="default",
    # Provider work goes to its own queue so a slow provider never starves the others, and only
    # the GPU worker (which has torch installed) consumes "gpu".
    task_routes={
        "finetune_portal.providers.openai.*": {"queue": "openai"},
        "finetune_portal.providers.peft.*": {"queue": "gpu"},
    },
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    result_expires=3600,
    # Tasks are idempotent (they claim rows with a compare-and-set), so a task lost with its worker
    # is delivered again instead of being dropped.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=60 * 60,
    task_soft_time_limit=55 * 60,
    broker_connection_retry_on_startup=True,
    # Polls are scheduled by beat; the pollers themselves decide which jobs are due.
    beat_schedule={},
)


def _configure_filesystem_broker() -> None:
    from django.conf import settings

    if not str(app.conf.broker_url).startswith("filesystem://"):
        return
    folder = settings.CELERY_FILESYSTEM_DIR
    for sub in ("out", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    app.conf.broker_transport = "finetune_portal.core.filesystem_broker:Transport"
    app.conf.broker_transport_options = {
        "data_folder_in": str(folder / "out"),
        "data_folder_out": str(folder / "out"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
        "control_folder": str(folder / "control"),
    }
    results = str(settings.CELERY_RESULT_BACKEND)
    if results.startswith("file://"):
        os.makedirs(results.removeprefix("file://"), exist_ok=True)


# Added to the longest task's hard time limit: the time a busy worker may take to start a fetched task.
VISIBILITY_MARGIN_SECONDS = 60 * 60


def visibility_timeout_seconds() -> int:
    """How long Redis waits for a fetched task's ack before delivering it again.

    Tasks are acked late, so it must outlast the longest task (a training run at its hard time limit) or a
    running task is handed to a second worker; a worker that died is covered sooner by the reapers, whose
    claims decide which delivery may act.
    """
    from django.conf import settings

    training_hard_limit = int(settings.PEFT_TRAINING_TIME_LIMIT_SECONDS) + TRAINING_HARD_LIMIT_GRACE_SECONDS
    longest = max(training_hard_limit, int(app.conf.task_time_limit or 0))
    return longest + VISIBILITY_MARGIN_SECONDS


def _configure_redis_transport() -> None:
    if str(app.conf.broker_url).startswith(("redis://", "rediss://")):
        options = dict(app.conf.broker_transport_options or {})
        options.setdefault("visibility_timeout", visibility_timeout_seconds())
        app.conf.broker_transport_options = options


_configure_filesystem_broker()
_configure_redis_transport()
app.autodiscover_tasks()


def register_periodic_task(name: str, task: str, seconds: float, queue: str = "default") -> None:
    """Apps add their pollers here (from AppConfig.ready) so the schedule lives next to the task."""
    app.conf.beat_schedule[name] = {"task": task, "schedule": seconds, "options": {"queue": queue}}


def broker_send(send: Callable[[], object], *, what: str) -> bool:
    """Send a task; False, logged, when the broker cannot be reached.

    The callers run after a user's write is saved: a broker that is down must not turn that saved write
    into an error page. Each caller says what happens next (a beat reaper sends it again, or the user is
    asked to try again).
    """
    try:
        send()
    except (KombuError, OSError) as exc:
        logger.warning("Could not send %s to the broker (%s).", what, exc)
        return False
    return True


def queue_waiting_count(name: str) -> int | None:
    """Messages waiting in queue ``name`` (not those a worker holds), or None when the broker cannot say."""
    try:
        with app.connection_for_read() as conn:
            return conn.default_channel.queue_declare(queue=name, passive=True).message_count
    except ChannelError:
        return 0  # the queue does not exist (Redis drops an empty list): nothing waits in it
    except (KombuError, OSError, NotImplementedError) as exc:
        logger.warning("Could not count the messages in queue %s (%s).", name, exc)
        return None
