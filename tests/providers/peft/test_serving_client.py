"""The portal's model-server client: against the vLLM stand-in (not vLLM: vLLM needs a GPU) and against the
embedded server with a real adapter kept in storage."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from devtools.vllm_standin.server import VllmStandin
from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.chat import ChatDelta, ChatDone, ChatSettings
from finetune_portal.providers.peft.serving import client
from finetune_portal.providers.peft.serving.client import engine_chat_stream
from finetune_portal.providers.peft.serving.engine import Engine
from tests.providers.peft.serving_support import running_server, tiny_adapter

BASE = "Qwen/Qwen2.5-0.5B-Instruct"
ADAPTER = "ft:Qwen/Qwen2.5-0.5B-Instruct:bank-reviews:local:job-7"
HELLO = [{"role": "user", "content": "hello there"}]


@pytest.fixture(autouse=True)
def _fresh_client_memory():
    client._loaded.clear()
    yield
    client._loaded.clear()


@pytest.fixture
def vllm(settings):
    standin = VllmStandin(base_model=BASE).start_in_thread()
    settings.VLLM_BASE_URL = standin.base_url
    yield standin
    standin.stop()


def store_adapter(prefix: str) -> str:
    """An adapter folder in the default storage, as a finished local job leaves it."""
    default_storage.save(
        f"{prefix}/adapter_config.json", ContentFile(json.dumps({"r": 8, "peft_type": "LORA"}))
    )
    default_storage.save(f"{prefix}/adapter_model.safetensors", ContentFile(b"weights"))
    return prefix


def chat(**overrides):
    arguments = {
        "model_name": ADAPTER,
        "base_model": BASE,
        "adapter_uri": "",
        "messages": HELLO,
        "settings": ChatSettings(),
    }
    events = list(engine_chat_stream(**{**arguments, **overrides}))
    text = "".join(event.text for event in events if isinstance(event, ChatDelta))
    assert isinstance(events[-1], ChatDone)
    assert all(isinstance(event, ChatDelta) for event in events[:-1])
    return text, events[-1]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_adapter_is_loaded_the_first_time_it_is_asked_for_then_reused(vllm):
    uri = store_adapter("peft/1/job-7/final")

    text, done = chat(adapter_uri=uri)
    again, _ = chat(adapter_uri=uri)

    assert text == again == f"[{ADAPTER}] You said: hello there"
    assert done.finish_reason == "stop"
    assert done.completion_tokens == 5
    assert done.prompt_tokens == 7
    assert vllm.calls("/v1/load_lora_adapter") == [
        {"lora_name": ADAPTER, "lora_path": default_storage.path(uri)}
    ]
    assert [body["model"] for body in vllm.calls("/v1/chat/completions")] == [ADAPTER, ADAPTER]


def test_after_a_vllm_restart_the_adapter_is_loaded_again_once(vllm):
    uri = store_adapter("peft/1/job-7/final")
    chat(adapter_uri=uri)

    vllm.restart()
    text, _ = chat(adapter_uri=uri)

    assert text == f"[{ADAPTER}] You said: hello there"
    assert len(vllm.calls("/v1/load_lora_adapter")) == 2
    assert ADAPTER in vllm.adapters


def test_an_adapter_another_process_loaded_already_is_used(vllm):
    uri = store_adapter("peft/1/job-7/final")
    vllm.adapters[ADAPTER] = default_storage.path(uri)  # "has already been loaded"

    text, _ = chat(adapter_uri=uri)

    assert text == f"[{ADAPTER}] You said: hello there"


def test_two_threads_asking_for_a_new_adapter_at_once_both_get_answers(vllm):
    uri = store_adapter("peft/1/job-7/final")
    answers, failures = [], []

    def ask():
        try:
            answers.append(chat(adapter_uri=uri)[0])
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert failures == []
    assert answers == [f"[{ADAPTER}] You said: hello there"] * 2
    assert list(vllm.adapters) == [ADAPTER]


def test_a_base_model_is_asked_by_its_id_with_the_settings_and_system_prompt(vllm):
    settings = ChatSettings(
        system_prompt="Be brief.",
        temperature=0.2,
        top_p=0.9,
        max_tokens=3,
        stop=("x",),
        seed=4,
        presence_penalty=0.5,
    )

    text, done = chat(settings=settings)

    sent = vllm.calls("/v1/chat/completions")[0]
    assert sent["model"] == BASE
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, *HELLO]
    assert {
        key: sent[key] for key in ("temperature", "top_p", "max_tokens", "stop", "seed", "presence_penalty")
    } == {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 3,
        "stop": ["x"],
        "seed": 4,
        "presence_penalty": 0.5,
    }
    assert "frequency_penalty" not in sent
    assert sent["stream"] is True
    assert text == f"[{BASE}] You said:"
    assert done.finish_reason == "length"
    assert vllm.calls("/v1/load_lora_adapter") == []


def test_a_conversation_with_its_own_system_message_keeps_it(vllm):
    messages = [{"role": "system", "content": "Mine."}, *HELLO]

    chat(messages=messages, settings=ChatSettings(system_prompt="Not this."))

    assert vllm.calls("/v1/chat/completions")[0]["messages"] == messages


def test_a_base_model_vllm_does_not_serve_is_a_clear_error(vllm):
    with pytest.raises(ProviderError) as caught:
        chat(base_model="meta-llama/Llama-3.1-8B-Instruct")

    assert caught.value.message == "The model `meta-llama/Llama-3.1-8B-Instruct` does not exist."
    assert caught.value.code == "model_not_found"
    assert "one base model it was started with" in caught.value.hint


def test_an_adapter_folder_vllm_cannot_read_is_refused_in_its_words(vllm):
    default_storage.save("peft/1/job-8/final/README.md", ContentFile(b"no adapter here"))

    with pytest.raises(ProviderError) as caught:
        chat(adapter_uri="peft/1/job-8/final")

    assert caught.value.code == "adapter_load_failed"
    assert "No adapter found for" in caught.value.message
    assert vllm.calls("/v1/chat/completions") == []


def test_an_adapter_gone_from_storage_is_said_so(vllm):
    with pytest.raises(ProviderError, match=r"no longer in storage \(peft/1/job-9/final\)"):
        chat(adapter_uri="peft/1/job-9/final")


def test_an_unreachable_vllm_server_is_a_clear_error(settings):
    settings.VLLM_BASE_URL = f"http://127.0.0.1:{closed_port()}/v1"

    with pytest.raises(ProviderError) as caught:
        chat()

    assert caught.value.code == "engine_unreachable"
    assert (
        f"The vLLM server at {settings.VLLM_BASE_URL} (VLLM_BASE_URL) is not answering"
        in caught.value.message
    )


def test_an_unreachable_embedded_server_says_how_to_start_it(settings):
    settings.VLLM_BASE_URL = ""
    settings.LOCAL_INFERENCE_URL = f"http://127.0.0.1:{closed_port()}/v1"

    with pytest.raises(ProviderError) as caught:
        chat(adapter_uri=store_adapter("peft/1/job-7/final"))

    assert caught.value.message == (
        f"The model server at {settings.LOCAL_INFERENCE_URL} is not answering: start it with "
        "`python manage.py serve_models` or set VLLM_BASE_URL"
    )
    assert caught.value.permanent is False


def test_an_adapter_in_object_storage_is_downloaded_once_for_the_server(vllm, s3_storage, settings, tmp_path):
    settings.INFERENCE_ADAPTER_CACHE = tmp_path / "adapter-cache"
    uri = store_adapter("peft/1/job-7/final")

    chat(adapter_uri=uri)
    client._loaded.clear()  # as another portal process would
    vllm.restart()
    chat(adapter_uri=uri)

    paths = {body["lora_path"] for body in vllm.calls("/v1/load_lora_adapter")}
    assert len(paths) == 1
    local = Path(paths.pop())
    assert local.parent == settings.INFERENCE_ADAPTER_CACHE
    assert sorted(p.name for p in local.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    assert [p.name for p in settings.INFERENCE_ADAPTER_CACHE.iterdir()] == [local.name]


# -- the embedded server, end to end ----------------------------------------------------------------------


def test_the_embedded_server_answers_with_an_adapter_kept_in_storage(settings, model_cache, tmp_path):
    from finetune_portal.providers.peft import demo_models
    from finetune_portal.providers.peft.serving.loading import DEMO_CORPUS

    base = demo_models.tiny_model_folder(cache_dir=model_cache, texts=DEMO_CORPUS)
    folder = tiny_adapter(base, tmp_path / "adapter")
    uri = "peft/1/job-3/final"
    for path in folder.iterdir():
        default_storage.save(f"{uri}/{path.name}", ContentFile(path.read_bytes()))
    engine = Engine(cache_dir=model_cache)
    greedy = ChatSettings(max_tokens=8, temperature=0)
    with running_server(engine) as server:
        settings.VLLM_BASE_URL = ""
        settings.LOCAL_INFERENCE_URL = server.base_url

        tuned, done = chat(
            model_name="ft:demo:tiny:p:local:job-3", base_model="demo:tiny", adapter_uri=uri, settings=greedy
        )
        plain, _ = chat(model_name="demo:tiny", base_model="demo:tiny", settings=greedy)

    assert engine.is_adapter_attached("ft:demo:tiny:p:local:job-3")
    assert done.completion_tokens == 8
    assert done.finish_reason == "length"
    assert tuned != plain
