from __future__ import annotations

import pytest

from finetune_portal.providers.peft.base_models import (
    BaseModelError,
    SourceKind,
    base_model_parse,
    model_shape,
)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("demo:tiny", SourceKind.DEMO_TINY, "demo:tiny"),
        ("demo:smollm2-135m", SourceKind.DEMO_SMOLLM2, "demo:smollm2-135m"),
        ("Qwen/Qwen2.5-0.5B-Instruct", SourceKind.HUB, "Qwen/Qwen2.5-0.5B-Instruct"),
        ("gpt2", SourceKind.HUB, "gpt2"),
        ("local:/models/llama", SourceKind.LOCAL, "/models/llama"),
        ("/models/llama", SourceKind.LOCAL, "/models/llama"),
    ],
)
def test_it_reads_each_kind_of_base_model(text, kind, value):
    source = base_model_parse(text)

    assert (source.kind, source.value) == (kind, value)


@pytest.mark.parametrize("text", ["", "a/b/c", "has space/x", "../etc", "local:models"])
def test_it_refuses_what_is_neither_an_id_nor_a_folder(text):
    with pytest.raises(BaseModelError):
        base_model_parse(text)


def test_known_models_have_their_real_size():
    assert model_shape("meta-llama/Llama-3.1-8B-Instruct").parameters == 8_030_261_248


@pytest.mark.parametrize(
    ("name", "parameters"), [("someone/Mixtral-22B-v2", 22e9), ("org/tiny-135M-chat", 135e6)]
)
def test_other_sizes_are_read_from_the_name(name, parameters):
    assert model_shape(name).parameters == int(parameters)


def test_a_name_without_a_size_has_no_shape():
    assert model_shape("someone/my-model") is None
