"""One answer of a warm model: generate() in a thread of its own, its text streamed back piece by piece,
cut at the request's stop sequences, then one ``Finished`` with the token counts."""

from __future__ import annotations

import threading
from collections.abc import Generator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from finetune_portal.providers.peft.serving.errors import EngineError
from finetune_portal.providers.peft.serving.stops import split_at_stop, split_safe_prefix
from finetune_portal.providers.peft.serving.streaming import Halted, TokenStream, text_pieces


@dataclass(frozen=True)
class GenerationRequest:
    messages: list[dict[str, str]]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class Finished:
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


# What Engine.generate() returns: pieces of text, then one Finished; close() it to stop early.
Answer = Generator["str | Finished", None, None]


def answer_stream(
    *,
    model: Any,
    tokenizer: Any,
    encoded: dict[str, Any],
    request: GenerationRequest,
    max_new: int,
    interval: float,
    adapter_choice: AbstractContextManager[Any] | None = None,
) -> Answer:
    """Generate with ``model`` (its adapter already chosen; the caller holds the model's lock) and hand on
    the text as it comes. Closing the generator stops generate() at its next token."""
    import torch

    stream = TokenStream()
    device = next(model.parameters()).device
    inputs = {key: value.to(device) for key, value in encoded.items()}
    failure: list[BaseException] = []

    def work() -> None:
        try:
            with torch.inference_mode(), adapter_choice or nullcontext():
                if request.seed is not None:
                    torch.manual_seed(request.seed)
                model.generate(
                    **inputs,
                    max_new_tokens=max_new,
                    streamer=stream,
                    pad_token_id=tokenizer.pad_token_id,
                    **sampling_arguments(request),
                )
        except Halted:
            pass
        except Exception as exc:
            failure.append(exc)
        finally:
            stream.end()  # the reader would otherwise wait for pieces forever

    worker = threading.Thread(target=work, name="generate", daemon=True)
    worker.start()
    pending, stopped = "", False
    try:
        for piece in text_pieces(stream, tokenizer, interval):
            pending += piece
            before, stopped = split_at_stop(pending, request.stop)
            if stopped:
                pending = ""
                if before:
                    yield before
                break
            ready, pending = split_safe_prefix(pending, request.stop)
            if ready:
                yield ready
    finally:
        stream.halt()
        worker.join()
    if failure:
        error = failure[0]
        raise EngineError(
            f"Generation failed: {type(error).__name__}: {error}", status=500, type="InternalServerError"
        )
    if pending:
        yield pending
    new_ids = stream.ids
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos])
    ended = stopped or (bool(new_ids) and new_ids[-1] in eos_ids) or len(new_ids) < max_new
    # Generation runs ahead of the reader (and further when pieces are joined), so at a stop sequence
    # the answer counts the tokens up to the one that completed it, as vLLM does, not those made after.
    completion = tokens_through_stop(tokenizer, new_ids, request.stop) if stopped else len(new_ids)
    yield Finished("stop" if ended else "length", int(inputs["input_ids"].shape[1]), completion)


def tokens_through_stop(tokenizer: Any, ids: list[int], stops: tuple[str, ...]) -> int:
    """How many of ``ids`` it takes for their text to hold one of ``stops`` (all of them if none does)."""

    def holds_stop(count: int) -> bool:
        text = tokenizer.decode(ids[:count], skip_special_tokens=True)
        return any(stop in text for stop in stops)

    low, high = 1, len(ids)
    if not ids or not holds_stop(high):
        return len(ids)
    while low < high:  # the text only grows with more tokens: the first count that holds a stop
        middle = (low + high) // 2
        if holds_stop(middle):
            high = middle
        else:
            low = middle + 1
    return low


def sampling_arguments(request: GenerationRequest) -> dict[str, Any]:
    """generate()'s sampling arguments. Unset temperature and top_p keep the model's own generation config,
    as vLLM does; temperature 0 is greedy."""
    if request.temperature is None and request.top_p is None:
        return {}
    temperature = 1.0 if request.temperature is None else request.temperature
    if temperature == 0:
        return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    top_p = 1.0 if request.top_p is None else request.top_p
    return {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": None}
