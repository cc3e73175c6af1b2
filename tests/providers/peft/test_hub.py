"""Downloading base models and pushing adapters, against a fake hub reached through the real client."""

from __future__ import annotations

import pytest

from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.peft import hub


def test_an_unknown_model_id_says_so(fake_hub):
    with pytest.raises(ProviderError) as caught:
        hub.model_download(repo_id="nobody/no-such-model", token=None)

    assert caught.value.code == "model_unknown"
    assert "There is no model 'nobody/no-such-model' on the Hugging Face Hub" in caught.value.message
    assert "private" in caught.value.message  # without a token, it may be private


def test_a_gated_model_without_a_token_asks_for_one(fake_hub):
    fake_hub.gated.add("meta-llama/Llama-3.2-1B-Instruct")

    with pytest.raises(ProviderError) as caught:
        hub.model_download(repo_id="meta-llama/Llama-3.2-1B-Instruct", token=None)

    assert caught.value.code == "model_gated_no_token"
    assert "gated" in caught.value.message
    assert "Add a Hugging Face credential" in caught.value.hint


def test_a_gated_model_with_a_token_not_granted_access_says_to_accept_the_licence(fake_hub):
    fake_hub.gated.add("meta-llama/Llama-3.2-1B-Instruct")

    with pytest.raises(ProviderError) as caught:
        hub.model_download(repo_id="meta-llama/Llama-3.2-1B-Instruct", token="hf_project_token")

    assert caught.value.code == "model_gated"
    assert "licence" in caught.value.hint
    assert "hf_project_token" in fake_hub.tokens_seen


def test_offline_with_nothing_cached_says_what_to_do(tmp_path):
    # Tests run with HF_HUB_OFFLINE=1 and no fake hub: exactly a worker without network.
    with pytest.raises(ProviderError) as caught:
        hub.model_download(repo_id="Qwen/Qwen2.5-0.5B-Instruct", token=None, cache_dir=str(tmp_path))

    assert caught.value.code == "model_offline_no_cache"
    assert "offline" in caught.value.message
    assert "Qwen/Qwen2.5-0.5B-Instruct" in caught.value.message


def test_a_pushed_folder_lands_in_a_private_repo_with_its_card(fake_hub, tmp_path):
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text('{"r": 8}')
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    (folder / "training_args.bin").write_bytes(b"not for the hub")
    card = hub.model_card(
        repo_id="acme/colours-lora",
        base_model="Qwen/Qwen2.5-0.5B-Instruct",
        base_model_on_hub=True,
        method="sft",
        adapter="lora",
        dataset={"name": "colours", "version": 2, "sha256": "ab" * 32, "examples": 50},
        hyperparameters={"lora_rank": 8, "learning_rate": 0.005},
        results={"Steps": 30, "Final training loss": 5.1},
    )

    url = hub.folder_push(
        folder=folder, repo_id="acme/colours-lora", token="hf_x", card=card, commit_message="m"
    )

    repo = fake_hub.repos["acme/colours-lora"]
    assert url.endswith("acme/colours-lora")
    assert repo.private is True
    assert set(repo.files) == {"adapter_config.json", "adapter_model.safetensors", "README.md"}
    readme = repo.files["README.md"].decode()
    assert "base_model: Qwen/Qwen2.5-0.5B-Instruct" in readme
    assert "library_name: peft" in readme
    assert "`" + "ab" * 32 + "`" in readme
    assert "| lora_rank | 8 |" in readme
    assert 'AutoPeftModelForCausalLM.from_pretrained("acme/colours-lora")' in readme


def test_it_refuses_to_push_into_an_existing_public_repo(fake_hub, tmp_path):
    from tests.providers.peft.fake_hub import FakeRepo

    fake_hub.repos["acme/public"] = FakeRepo(private=False)
    (tmp_path / "adapter_config.json").write_text("{}")

    with pytest.raises(ProviderError) as caught:
        hub.folder_push(folder=tmp_path, repo_id="acme/public", token="hf_x", card="card", commit_message="m")

    assert caught.value.code == "hub_repo_public"
    assert fake_hub.repos["acme/public"].files == {}
