"""Which base models a local job can start from, and what the form knows about their size.

Pure Python: the web process uses it for the form and the memory estimate; the worker uses it to
decide how to obtain the weights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

DEMO_TINY = "demo:tiny"
DEMO_SMOLLM2 = "demo:smollm2-135m"
LOCAL_PREFIX = "local:"

# A Hugging Face repo id: "name" or "owner/name", letters, digits, "-", "_", ".".
HF_REPO_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


class SourceKind(StrEnum):
    DEMO_TINY = "demo_tiny"
    DEMO_SMOLLM2 = "demo_smollm2"
    LOCAL = "local"
    HUB = "hub"


@dataclass(frozen=True)
class BaseModelSource:
    kind: SourceKind
    value: str  # the repo id, the folder, or the demo key

    @property
    def display(self) -> str:
        return {
            SourceKind.DEMO_TINY: "Tiny demo model (built locally)",
            SourceKind.DEMO_SMOLLM2: "SmolLM2-135M-Instruct (demo)",
        }.get(self.kind, self.value)


class BaseModelError(ValueError):
    pass


def base_model_parse(text: str) -> BaseModelSource:
    """Read what the form stores in job.base_model."""
    text = (text or "").strip()
    if text == DEMO_TINY:
        return BaseModelSource(SourceKind.DEMO_TINY, DEMO_TINY)
    if text == DEMO_SMOLLM2:
        return BaseModelSource(SourceKind.DEMO_SMOLLM2, DEMO_SMOLLM2)
    if text.startswith(LOCAL_PREFIX) or text.startswith("/"):
        folder = text.removeprefix(LOCAL_PREFIX).strip()
        if not folder.startswith("/"):
            raise BaseModelError(
                "A model folder on the worker must be an absolute path, e.g. /models/llama-3-8b."
            )
        return BaseModelSource(SourceKind.LOCAL, folder)
    if HF_REPO_ID.match(text) and ".." not in text:
        return BaseModelSource(SourceKind.HUB, text)
    raise BaseModelError(
        f"{text!r} is neither a Hugging Face model id (owner/name) nor an absolute folder on the worker."
    )


@dataclass(frozen=True)
class ModelShape:
    """Enough of a model's shape to estimate training memory."""

    parameters: int
    hidden_size: int
    layers: int
    vocab_size: int


# Shapes of the demo models and of common open models; others are guessed from the size in their name.
KNOWN_SHAPES: dict[str, ModelShape] = {
    DEMO_TINY: ModelShape(98_496, 64, 2, 1000),
    DEMO_SMOLLM2: ModelShape(134_515_008, 576, 30, 49_152),
    "HuggingFaceTB/SmolLM2-135M-Instruct": ModelShape(134_515_008, 576, 30, 49_152),
    "HuggingFaceTB/SmolLM2-360M-Instruct": ModelShape(361_821_120, 960, 32, 49_152),
    "HuggingFaceTB/SmolLM2-1.7B-Instruct": ModelShape(1_711_376_384, 2048, 24, 49_152),
    "Qwen/Qwen2.5-0.5B-Instruct": ModelShape(494_032_768, 896, 24, 151_936),
    "Qwen/Qwen2.5-1.5B-Instruct": ModelShape(1_543_714_304, 1536, 28, 151_936),
    "Qwen/Qwen2.5-3B-Instruct": ModelShape(3_085_938_688, 2048, 36, 151_936),
    "Qwen/Qwen2.5-7B-Instruct": ModelShape(7_615_616_512, 3584, 28, 152_064),
    "meta-llama/Llama-3.2-1B-Instruct": ModelShape(1_235_814_400, 2048, 16, 128_256),
    "meta-llama/Llama-3.2-3B-Instruct": ModelShape(3_212_749_824, 3072, 28, 128_256),
    "meta-llama/Llama-3.1-8B-Instruct": ModelShape(8_030_261_248, 4096, 32, 128_256),
    "mistralai/Mistral-7B-Instruct-v0.3": ModelShape(7_248_023_552, 4096, 32, 32_768),
    "google/gemma-2-2b-it": ModelShape(2_614_341_888, 2304, 26, 256_000),
}

# Offered in the form's list; any other id can be typed.
SUGGESTED_MODELS = [
    (DEMO_TINY, "Tiny demo model (built locally, CPU-friendly)"),
    (DEMO_SMOLLM2, "SmolLM2-135M-Instruct (demo, from its PyPI package)"),
    ("Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct"),
    ("meta-llama/Llama-3.2-1B-Instruct", "meta-llama/Llama-3.2-1B-Instruct (gated)"),
    ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct (gated)"),
]

_SIZE_IN_NAME = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?)\s*([BbMm])(?![A-Za-z])")


def model_shape(base_model: str) -> ModelShape | None:
    """The known shape, else one guessed from "8B"/"135M" in the name, else None."""
    base_model = (base_model or "").strip()
    if base_model in KNOWN_SHAPES:
        return KNOWN_SHAPES[base_model]
    match = _SIZE_IN_NAME.search(base_model.rsplit("/", 1)[-1])
    if not match:
        return None
    scale = 1e9 if match.group(2).lower() == "b" else 1e6
    parameters = int(float(match.group(1)) * scale)
    if parameters <= 0:
        return None
    # Typical decoder proportions: about 12·h² parameters per layer, depth growing slowly with size.
    layers = 16 if parameters < 2e9 else 32 if parameters < 20e9 else 80
    hidden = int((parameters / (12 * layers)) ** 0.5) // 64 * 64 or 64
    return ModelShape(parameters, hidden, layers, 128_000)
