"""The portal side of the provider: how jobs reach the GPU workers, and that the web needs no torch."""

from __future__ import annotations

import subprocess
import sys

from finetune_portal.celery import app
from finetune_portal.providers.registry import get_launch_form_class, get_provider


def test_the_registry_finds_the_provider_and_its_form():
    assert get_provider("local_peft").key == "local_peft"
    assert get_launch_form_class("local_peft").__name__ == "PeftJobForm"


def test_training_goes_to_the_gpu_queue_and_control_tasks_to_default():
    from finetune_portal.providers.peft.tasks import CONTROL_QUEUE

    route = app.amqp.router.route
    assert route({}, "finetune_portal.providers.peft.tasks.job_train_task")["queue"].name == "gpu"
    assert route({"queue": CONTROL_QUEUE}, "finetune_portal.providers.peft.tasks.job_cancel_task")[
        "queue"
    ].name == ("default")


def test_the_web_side_imports_the_provider_without_the_ml_stack():
    code = (
        "import django, os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'finetune_portal.settings');"
        "django.setup();"
        "import finetune_portal.providers.peft.provider, finetune_portal.providers.peft.forms,"
        " finetune_portal.providers.peft.tasks, finetune_portal.providers.peft.trainer,"
        " finetune_portal.providers.peft.views;"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'trl', 'datasets', 'accelerate')"
        " if m in sys.modules];"
        "print(','.join(heavy) or 'none')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip().splitlines()[-1] == "none"
