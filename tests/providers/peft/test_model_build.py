"""Two models built at once in one process: transformers switches weight tying off for the whole
process while it loads, so an unguarded build in another thread meanwhile is left half-made."""

from __future__ import annotations

import contextlib
import threading

from transformers.initialization import no_tie_weights

from finetune_portal.providers.peft import demo_models
from finetune_portal.providers.peft.model_build import MODEL_BUILD_LOCK
from finetune_portal.providers.peft.serving.loading import DEMO_CORPUS, model_load


@contextlib.contextmanager
def another_build_under_way():
    """Another thread's from_pretrained, caught in the middle: tying is off process-wide until it ends
    (or, at the latest, two seconds after the build inside this block is done)."""
    started, done = threading.Event(), threading.Event()

    def build_in_progress():
        with MODEL_BUILD_LOCK, no_tie_weights():
            started.set()
            done.wait(timeout=2)

    other = threading.Thread(target=build_in_progress)
    other.start()
    assert started.wait(timeout=10)
    try:
        yield
    finally:
        done.set()
        other.join()


def test_a_model_loaded_while_another_load_is_under_way_gets_its_tied_output_layer(model_cache):
    folder = demo_models.tiny_model_folder(cache_dir=model_cache, texts=DEMO_CORPUS)

    with another_build_under_way():
        model = model_load(str(folder)).model

    assert not any(parameter.is_meta for parameter in model.parameters())
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


def test_the_tiny_demo_model_is_the_same_whatever_another_thread_is_building(tmp_path):
    # Built under another thread's load, its seeded weights would be left uninitialised (and untied).
    first = demo_models.tiny_model_folder(cache_dir=tmp_path / "first", texts=DEMO_CORPUS)

    with another_build_under_way():
        second = demo_models.tiny_model_folder(cache_dir=tmp_path / "second", texts=DEMO_CORPUS)

    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
