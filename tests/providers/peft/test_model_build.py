"""Two models built at once in one process: transformers switches weight tying off for the whole
process while it loads, so an unguarded build in another thread meanwhile is left half-made."""

from __future__ import annotations

import threading

from transformers.initialization import no_tie_weights

from finetune_portal.providers.peft import demo_models
from finetune_portal.providers.peft.model_build import MODEL_BUILD_LOCK
from finetune_portal.providers.peft.serving.loading import DEMO_CORPUS, model_load


def test_a_model_loaded_while_another_load_is_under_way_gets_its_tied_output_layer(model_cache):
    folder = demo_models.tiny_model_folder(cache_dir=model_cache, texts=DEMO_CORPUS)
    other_load_started = threading.Event()
    second_load_done = threading.Event()

    def other_load_in_progress():
        # Another thread's from_pretrained, caught in the middle: tying is off process-wide until it ends.
        with MODEL_BUILD_LOCK, no_tie_weights():
            other_load_started.set()
            second_load_done.wait(timeout=2)

    other = threading.Thread(target=other_load_in_progress)
    other.start()
    assert other_load_started.wait(timeout=10)
    try:
        loaded = model_load(str(folder))
    finally:
        second_load_done.set()
        other.join()

    model = loaded.model
    assert not any(parameter.is_meta for parameter in model.parameters())
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


def test_the_tiny_demo_model_is_the_same_whatever_another_thread_is_building(model_cache, tmp_path):
    # Built under another thread's load, its seeded weights would be left uninitialised (and untied).
    first = demo_models.tiny_model_folder(cache_dir=tmp_path / "first", texts=DEMO_CORPUS)
    other_build_started = threading.Event()
    second_build_done = threading.Event()

    def other_build_in_progress():
        with MODEL_BUILD_LOCK, no_tie_weights():
            other_build_started.set()
            second_build_done.wait(timeout=2)

    other = threading.Thread(target=other_build_in_progress)
    other.start()
    assert other_build_started.wait(timeout=10)
    try:
        second = demo_models.tiny_model_folder(cache_dir=tmp_path / "second", texts=DEMO_CORPUS)
    finally:
        second_build_done.set()
        other.join()

    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
