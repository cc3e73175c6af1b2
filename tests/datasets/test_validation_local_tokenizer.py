"""For local training, tokens are counted with the base model's own tokenizer when the worker has it."""

from __future__ import annotations

import json

import pytest

from finetune_portal.datasets.validation.report import validate_file
from finetune_portal.providers.peft.local_models import REFUSED

pytest.importorskip("transformers", reason="the local tokenizer path needs the ML extra")

TEXTS = [f"Review {i}: the app is {'fast' if i % 2 else 'slow'} and the staff are kind." for i in range(12)]


@pytest.fixture
def chat_file(tmp_path):
    path = tmp_path / "chat.jsonl"
    with path.open("w") as handle:
        for text in TEXTS:
            messages = [{"role": "user", "content": text}, {"role": "assistant", "content": "positive"}]
            handle.write(json.dumps({"messages": messages}) + "\n")
    return path


@pytest.fixture(autouse=True)
def _model_folders_allowed(settings, tmp_path):
    settings.PEFT_LOCAL_MODEL_DIRS = [str(tmp_path)]


@pytest.fixture
def local_model_folder(tmp_path):
    from finetune_portal.providers.peft.demo_models import tiny_model_folder

    return tiny_model_folder(cache_dir=tmp_path / "models", texts=TEXTS)


def test_a_model_folder_on_the_worker_counts_with_its_own_tokenizer(chat_file, local_model_folder):
    from transformers import AutoTokenizer

    report = validate_file(
        chat_file, kind="chat", target="local_peft", base_model=f"local:{local_model_folder}"
    )

    assert report["valid"], report["errors"]
    assert report["stats"]["tokenizer"] == f"hf:{local_model_folder}"
    tokenizer = AutoTokenizer.from_pretrained(local_model_folder)
    own_count = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in TEXTS)
    approximated = validate_file(chat_file, kind="chat", target="local_peft", base_model="")
    assert report["stats"]["total_tokens"] != approximated["stats"]["total_tokens"]
    assert report["stats"]["total_tokens"] >= own_count
    assert not any("approximation" in w["message"] for w in report["warnings"])


def test_without_the_tokenizer_tiktoken_stands_in_and_says_so(chat_file, tmp_path):
    report = validate_file(
        chat_file, kind="chat", target="local_peft", base_model=f"local:{tmp_path / 'none'}"
    )

    assert report["stats"]["tokenizer"].startswith("tiktoken:")
    assert any("approximation" in w["message"] for w in report["warnings"])


@pytest.mark.parametrize("where", ["outside", "missing outside", "relative"])
def test_a_folder_outside_the_model_folders_is_never_read_and_not_told_apart(
    chat_file, local_model_folder, settings, tmp_path, where
):
    settings.PEFT_LOCAL_MODEL_DIRS = [str(tmp_path / "allowed")]
    folder = {
        "outside": f"local:{local_model_folder}",  # a real model folder, outside the configured ones
        "missing outside": f"local:{tmp_path / 'none'}",
        "relative": "../../" + str(local_model_folder).lstrip("/"),
    }[where]

    report = validate_file(chat_file, kind="chat", target="local_peft", base_model=folder)

    assert report["stats"]["tokenizer"].startswith("tiktoken:")
    [warning] = [w["message"] for w in report["warnings"] if "approximation" in w["message"]]
    assert warning.endswith(REFUSED)
