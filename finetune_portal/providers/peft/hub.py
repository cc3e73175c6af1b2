"""The Hugging Face Hub from the GPU worker: downloading base models and pushing adapters.

huggingface_hub is imported inside the functions (it comes with the ML extra). Every failure becomes a
ProviderError whose message says what to do, instead of a stack trace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.peft.training_config import LORA_ADAPTERS

# What a causal LM needs; no *.py, since remote code is never trusted, and no duplicate weight formats.
MODEL_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken", "tokenizer*"]


def model_download(*, repo_id: str, token: str | None, cache_dir: str | None = None) -> Path:
    """The local folder of ``repo_id``, downloading what is missing (or using the cache when offline)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        folder = snapshot_download(
            repo_id=repo_id, token=token or None, cache_dir=cache_dir, allow_patterns=MODEL_FILES
        )
    except GatedRepoError as exc:
        if token:
            raise ProviderError(
                f"{repo_id} is a gated model and the project's Hugging Face token has not been "
                "granted access.",
                permanent=True,
                hint="Accept the model's licence on its Hub page with the account of that token, "
                "then launch again.",
                code="model_gated",
            ) from exc
        raise ProviderError(
            f"{repo_id} is a gated model and this project has no Hugging Face token.",
            permanent=True,
            hint="Add a Hugging Face credential (Credentials page) from an account that accepted the model's "
            "licence, then launch again.",
            code="model_gated_no_token",
        ) from exc
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        raise ProviderError(
            f"The GPU worker is offline and {repo_id} is not in its model cache.",
            permanent=True,
            hint="Download the model once on the worker while it has network (or copy it into HF_HOME), "
            "or give the path of a model folder on the worker instead.",
            code="model_offline_no_cache",
        ) from exc
    except RevisionNotFoundError as exc:
        raise ProviderError(
            f"{repo_id} has no such revision on the Hugging Face Hub.", permanent=True, code="model_unknown"
        ) from exc
    except RepositoryNotFoundError as exc:
        private = "" if token else " (or it is private and this project has no Hugging Face token)"
        raise ProviderError(
            f"There is no model {repo_id!r} on the Hugging Face Hub{private}.",
            permanent=True,
            hint="Check the spelling of the model id (owner/name), e.g. Qwen/Qwen2.5-0.5B-Instruct.",
            code="model_unknown",
        ) from exc
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 401:
            raise ProviderError(
                "The Hugging Face Hub refused the project's token.",
                permanent=True,
                hint="The token may be revoked or mistyped; replace it on the Credentials page.",
                code="hub_token_invalid",
            ) from exc
        raise ProviderError(
            f"The Hugging Face Hub answered: {exc}", permanent=True, code="hub_error"
        ) from exc
    except OSError as exc:
        raise ProviderError(
            f"Could not reach the Hugging Face Hub to download {repo_id}: {exc}",
            permanent=True,
            hint="Check the worker's network, or use a model folder already on the worker.",
            code="hub_unreachable",
        ) from exc
    path = Path(folder)
    if not (path / "config.json").exists():
        raise ProviderError(
            f"{repo_id} has no config.json: it is not a Transformers model.",
            permanent=True,
            code="model_unknown",
        )
    return path


def model_card(
    *,
    repo_id: str,
    base_model: str,
    base_model_on_hub: bool,
    method: str,
    adapter: str,
    dataset: dict[str, Any],
    hyperparameters: dict[str, Any],
    results: dict[str, Any],
) -> str:
    """README.md for the pushed repo: metadata YAML, then what was trained on what and how it went."""
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(
        library_name="peft" if adapter in LORA_ADAPTERS else "transformers",
        base_model=base_model if base_model_on_hub else None,
        pipeline_tag="text-generation",
        tags=["finetune-portal", "trl", method, *(["lora"] if adapter in LORA_ADAPTERS else [])],
    )
    settings_rows = "\n".join(f"| {name} | {value} |" for name, value in sorted(hyperparameters.items()))
    result_rows = "\n".join(f"| {name} | {value} |" for name, value in results.items() if value is not None)
    if adapter in LORA_ADAPTERS:
        loader, loader_module = "AutoPeftModelForCausalLM", "peft"
    else:
        loader, loader_module = "AutoModelForCausalLM", "transformers"
    load = (
        f"```python\nfrom {loader_module} import {loader}\n\n"
        f'model = {loader}.from_pretrained("{repo_id}")\n```'
    )
    summary = {
        "lora": f"A LoRA adapter for `{base_model}`, trained with {method.upper()} (TRL).",
        "qlora": f"A QLoRA adapter for `{base_model}`, trained with {method.upper()} (TRL).",
        "qlora8": f"A LoRA adapter trained on an 8-bit `{base_model}` with {method.upper()} (TRL).",
    }.get(adapter, f"A full fine-tune of `{base_model}`, trained with {method.upper()} (TRL).")
    body = f"""
# {repo_id.rsplit("/", 1)[-1]}

{summary}

## Training data

| | |
| --- | --- |
| Dataset | {dataset.get("name", "")} |
| Version | {dataset.get("version", "")} |
| SHA-256 | `{dataset.get("sha256", "")}` |
| Examples | {dataset.get("examples", "")} |

## Training settings

| Setting | Value |
| --- | --- |
{settings_rows}

## Results

| Metric | Value |
| --- | --- |
{result_rows}

## Use

{load}
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}").content


def folder_push(*, folder: Path, repo_id: str, token: str | None, card: str, commit_message: str) -> str:
    """Create the private repo if needed and upload the folder with its model card. Returns the repo URL."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    (folder / "README.md").write_text(card, encoding="utf-8")
    api = HfApi(token=token or None)
    try:
        url = api.create_repo(repo_id=repo_id, private=True, exist_ok=True, repo_type="model")
        # create_repo leaves an existing repo as it is, and a public one would publish the weights.
        if not api.model_info(repo_id).private:
            raise ProviderError(
                f"The Hub repo {repo_id} already exists and is public; "
                "adapters are only pushed to private repos.",
                permanent=True,
                hint="Make the repo private on the Hub, or choose another repo name.",
                code="hub_repo_public",
            )
        api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type="model",
            commit_message=commit_message,
            ignore_patterns=["training_args.bin", "checkpoint-*"],
        )
    except HfHubHTTPError as exc:
        raise ProviderError(f"The Hugging Face Hub refused the push: {exc}", permanent=True) from exc
    except OSError as exc:
        raise ProviderError(f"Could not reach the Hugging Face Hub to push: {exc}", permanent=True) from exc
    return str(url)
