"""The embedded model server on loopback, called through the real openai SDK, with demo:tiny built here."""

from __future__ import annotations

import re
import threading

import openai
import pytest

from finetune_portal.providers.peft import demo_models
from finetune_portal.providers.peft.serving.engine import Engine
from finetune_portal.providers.peft.serving.errors import EngineError
from finetune_portal.providers.peft.serving.generation import GenerationRequest
from finetune_portal.providers.peft.serving.loading import DEMO_CORPUS
from tests.providers.peft.serving_support import openai_client, running_server, tiny_adapter

OTHER_CORPUS = ["another corpus", "for a second model"]
QUESTION = [{"role": "user", "content": "What colour is the sky?"}]


@pytest.fixture(scope="module")
def base_folder(model_cache):
    return demo_models.tiny_model_folder(cache_dir=model_cache, texts=DEMO_CORPUS)


@pytest.fixture(scope="module")
def adapter_folder(base_folder, tmp_path_factory):
    return tiny_adapter(base_folder, tmp_path_factory.mktemp("adapter") / "final")


@pytest.fixture(scope="module")
def server(model_cache):
    # stream_interval=0: every token is its own event, whatever the machine's speed.
    engine = Engine(cache_dir=model_cache, max_models=2, stream_interval=0)
    with running_server(engine) as running:
        yield running


@pytest.fixture(scope="module")
def sdk(server):
    return openai_client(server)


def load_adapter(sdk, name, path):
    return sdk.post("/load_lora_adapter", body={"lora_name": name, "lora_path": str(path)}, cast_to=str)


def ask(sdk, model="demo:tiny", **settings):
    return sdk.chat.completions.create(model=model, messages=QUESTION, **settings)


def streamed(sdk, model="demo:tiny", **settings):
    chunks = list(
        sdk.chat.completions.create(
            model=model, messages=QUESTION, stream=True, stream_options={"include_usage": True}, **settings
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    return text, finish, chunks


def test_a_base_model_answers_with_usage_and_stops_at_max_tokens(sdk):
    answer = ask(sdk, max_tokens=6, temperature=0)

    assert answer.object == "chat.completion"
    assert answer.model == "demo:tiny"
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage.completion_tokens == 6
    assert answer.usage.prompt_tokens > 0
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + 6


def test_a_streamed_answer_comes_in_pieces_and_equals_the_whole_answer(sdk):
    whole = ask(sdk, max_tokens=12, temperature=1.0, seed=11)

    text, finish, chunks = streamed(sdk, max_tokens=12, temperature=1.0, seed=11)

    assert text == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert finish == [whole.choices[0].finish_reason]
    usage = chunks[-1]
    assert usage.choices == []
    assert usage.usage == whole.usage


def test_the_same_seed_gives_the_same_sampled_answer(sdk):
    first = ask(sdk, max_tokens=10, temperature=1.0, seed=5).choices[0].message.content
    again = ask(sdk, max_tokens=10, temperature=1.0, seed=5).choices[0].message.content
    other = ask(sdk, max_tokens=10, temperature=1.0, seed=6).choices[0].message.content

    assert first == again
    assert other != first


def test_the_answer_ends_before_a_stop_sequence(sdk):
    settings = {"max_tokens": 24, "temperature": 1.0, "seed": 21}
    free = ask(sdk, **settings).choices[0].message.content
    stop = re.search(r"[A-Za-z]{2}", free[2:]).group(0)
    expected = free[: free.index(stop)]

    stopped = ask(sdk, stop=[stop, "never-said"], **settings)
    text, finish, _ = streamed(sdk, stop=stop, **settings)

    assert stopped.choices[0].message.content == expected
    assert stopped.choices[0].finish_reason == "stop"
    assert text == expected
    assert finish == ["stop"]


def test_an_unknown_model_is_an_openai_style_404(sdk):
    with pytest.raises(openai.NotFoundError) as caught:
        ask(sdk, model="nobody/no-such-model")

    error = caught.value.body
    assert error["code"] == "model_not_found"
    assert "The model `nobody/no-such-model` does not exist" in error["message"]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"stop": ["a", "b", "c", "d", "e"]}, "at most 4"),
        ({"temperature": 3}, "temperature must be a number from 0 to 2"),
        ({"presence_penalty": 0.5}, "presence_penalty is not supported by the embedded engine"),
        ({"frequency_penalty": 1.0}, "serve this model with vLLM"),
        ({"max_tokens": 0}, "max_tokens must be an integer of at least 1"),
        ({"max_tokens": 100_000}, "maximum context length is 512 tokens"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_400(sdk, fields, words):
    with pytest.raises(openai.BadRequestError) as caught:
        ask(sdk, **fields)

    assert words in caught.value.body["message"]


def test_a_loaded_adapter_answers_differently_from_its_base_and_the_base_stays_itself(
    sdk, server, adapter_folder
):
    greedy = {"max_tokens": 10, "temperature": 0}
    before = ask(sdk, **greedy).choices[0].message.content

    assert load_adapter(sdk, "ft:demo:tiny:proj:local:job-1", adapter_folder) == (
        "Success: LoRA adapter 'ft:demo:tiny:proj:local:job-1' added successfully."
    )
    tuned = ask(sdk, model="ft:demo:tiny:proj:local:job-1", **greedy)
    after = ask(sdk, **greedy).choices[0].message.content

    assert server.engine.is_adapter_attached("ft:demo:tiny:proj:local:job-1")
    assert tuned.model == "ft:demo:tiny:proj:local:job-1"
    assert tuned.choices[0].message.content != before
    assert after == before
    cards = {model.id: model for model in sdk.models.list()}
    assert cards["ft:demo:tiny:proj:local:job-1"].model_extra["root"] == str(adapter_folder)
    assert cards["ft:demo:tiny:proj:local:job-1"].model_extra["parent"] == "demo:tiny"


def test_adapter_loading_answers_as_vllm_does(sdk, adapter_folder, tmp_path):
    load_adapter(sdk, "twice", adapter_folder)

    with pytest.raises(openai.BadRequestError, match="has already been loaded"):
        load_adapter(sdk, "twice", adapter_folder)
    with pytest.raises(openai.NotFoundError, match=f"No adapter found for {tmp_path}"):
        load_adapter(sdk, "nowhere", tmp_path)
    with pytest.raises(openai.NotFoundError, match="cannot be found"):
        sdk.post("/unload_lora_adapter", body={"lora_name": "never-loaded"}, cast_to=str)

    sdk.post("/unload_lora_adapter", body={"lora_name": "twice"}, cast_to=str)
    with pytest.raises(openai.NotFoundError):
        ask(sdk, model="twice")


def test_two_clients_at_once_are_both_answered(sdk, adapter_folder):
    load_adapter(sdk, "concurrent-adapter", adapter_folder)
    answers: dict[str, str] = {}
    failures: list[BaseException] = []

    def chat(key, model):
        try:
            answers[key] = streamed(sdk, model=model, max_tokens=16, temperature=0)[0]
        except BaseException as exc:
            failures.append(exc)

    threads = [
        threading.Thread(target=chat, args=("base", "demo:tiny")),
        threading.Thread(target=chat, args=("adapter", "concurrent-adapter")),
        threading.Thread(target=chat, args=("base again", "demo:tiny")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert failures == []
    assert set(answers) == {"base", "adapter", "base again"}
    alone = ask(sdk, max_tokens=16, temperature=0).choices[0].message.content
    assert answers["base"] == answers["base again"] == alone
    assert answers["adapter"] != answers["base"]


def test_a_full_fine_tune_folder_is_served_as_a_model_of_its_own(sdk, base_folder):
    load_adapter(sdk, "ft:full:job-2", base_folder)

    answer = ask(sdk, model="ft:full:job-2", max_tokens=4, temperature=0)

    assert answer.usage.completion_tokens == 4


# -- the engine's memory bound, without HTTP -------------------------------------------------------------


def _generate(engine, model):
    return list(engine.generate(model, GenerationRequest(messages=QUESTION, max_tokens=2, temperature=0)))


def test_the_least_recently_used_model_is_evicted_at_the_count_bound(model_cache, base_folder):
    other = demo_models.tiny_model_folder(cache_dir=model_cache, texts=OTHER_CORPUS)
    engine = Engine(cache_dir=model_cache, max_models=2)

    _generate(engine, "demo:tiny")
    _generate(engine, f"local:{other}")
    _generate(engine, "demo:tiny")  # now the most recently used
    third = demo_models.tiny_model_folder(cache_dir=model_cache, texts=["a third corpus"])
    _generate(engine, f"local:{third}")

    assert engine.loaded_folders() == [str(base_folder), str(third)]


def test_the_byte_bound_keeps_only_what_fits(model_cache, base_folder):
    other = demo_models.tiny_model_folder(cache_dir=model_cache, texts=OTHER_CORPUS)
    engine = Engine(cache_dir=model_cache, max_models=10, max_bytes=1)  # smaller than any model

    _generate(engine, "demo:tiny")
    _generate(engine, f"local:{other}")

    # The model just used always stays, even alone over the bound.
    assert engine.loaded_folders() == [str(other)]
    _generate(engine, "demo:tiny")
    assert engine.loaded_folders() == [str(base_folder)]


def _answer(engine, model) -> tuple[str, object]:
    """The whole text and the closing event: how the text is cut into pieces depends on how far the
    reader was behind the generation, which the machine's load decides."""
    *pieces, finished = _generate(engine, model)
    return "".join(pieces), finished


def test_an_evicted_base_gets_its_adapter_back_on_the_next_chat(model_cache, adapter_folder):
    other = demo_models.tiny_model_folder(cache_dir=model_cache, texts=OTHER_CORPUS)
    engine = Engine(cache_dir=model_cache, max_models=1)
    engine.load_adapter(name="kept", path=str(adapter_folder))
    first = _answer(engine, "kept")

    _generate(engine, f"local:{other}")
    assert not engine.is_adapter_attached("kept")

    assert _answer(engine, "kept") == first
    assert engine.is_adapter_attached("kept")


def test_an_adapter_for_a_base_that_is_not_here_is_refused(model_cache, tmp_path, adapter_folder):
    import json
    import shutil

    moved = tmp_path / "adapter"
    shutil.copytree(adapter_folder, moved)
    config = json.loads((moved / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "/gone/tiny-llama"
    (moved / "adapter_config.json").write_text(json.dumps(config))
    engine = Engine(cache_dir=model_cache)

    with pytest.raises(EngineError, match="its base model '/gone/tiny-llama' is not on this server"):
        engine.load_adapter(name="lost", path=str(moved))
    # The base the portal names for it is the fallback.
    engine.load_adapter(name="found", path=str(moved), base_model="demo:tiny")
    assert _generate(engine, "found")


def test_a_reader_that_goes_away_mid_answer_frees_the_model_for_the_next(model_cache):
    engine = Engine(cache_dir=model_cache, stream_interval=0)
    request = GenerationRequest(messages=QUESTION, max_tokens=200, temperature=0)
    answer = engine.generate("demo:tiny", request)
    next(answer)

    answer.close()  # what the server does when the client hangs up
    following: list = []
    worker = threading.Thread(target=lambda: following.extend(_generate(engine, "demo:tiny")), daemon=True)
    worker.start()
    worker.join(60)

    assert not worker.is_alive(), "the model stayed locked after its reader left"
    assert following[-1].completion_tokens == 2
