"""What an evaluation can cost before it starts: every item's prompt and the most each answer (and the
judge's reading of it) may take, at the providers' chat prices."""

from __future__ import annotations

from decimal import Decimal

from finetune_portal.evaluations import metrics
from finetune_portal.providers.chat import ServedModel
from finetune_portal.providers.registry import get_provider

# The judge's answer (a score and a reason) is short: at most this many tokens.
JUDGE_MAX_TOKENS = 200


def _count_tokens(texts: list[str]) -> list[int]:
    from finetune_portal.datasets.tokenizers import tiktoken_encoding

    encoding = tiktoken_encoding("o200k_base")
    return [len(t) for t in encoding.encode_batch(texts, disallowed_special=())]


def cost_estimate(
    *,
    models: list[ServedModel],
    items: list[tuple[int, list[dict], str]],
    max_tokens: int,
    judge: ServedModel | None = None,
    rubric: str = "",
) -> Decimal | None:
    """The most the answers can cost at the providers' chat prices: every item's prompt tokens plus
    ``max_tokens`` out per model (and the judge's reading of each answer). None when nothing is billed
    per token."""
    priced = [*models, *([judge] if judge is not None else [])]
    if all(get_provider(m.provider).chat_cost_estimate(m, 1, 1) is None for m in priced):
        return None  # nothing here is billed per token: no need to count
    prompts = _count_tokens(["\n".join(str(m["content"]) for m in messages) for _, messages, _ in items])
    references = _count_tokens([reference for _, _, reference in items])
    prompt_tokens = sum(prompts) + 4 * sum(len(messages) for _, messages, _ in items)
    total: Decimal | None = None
    for model in models:
        cost = get_provider(model.provider).chat_cost_estimate(model, prompt_tokens, max_tokens * len(items))
        if cost is not None:
            total = (total or Decimal(0)) + cost
    if judge is not None:
        (rubric_tokens,) = _count_tokens([rubric + metrics.JUDGE_INSTRUCTIONS])
        judge_prompt = (
            prompt_tokens + sum(references) + (max_tokens + rubric_tokens + 20) * len(items)
        ) * len(models)
        cost = get_provider(judge.provider).chat_cost_estimate(
            judge, judge_prompt, JUDGE_MAX_TOKENS * len(items) * len(models)
        )
        if cost is not None:
            total = (total or Decimal(0)) + cost
    return total.quantize(Decimal("0.0001")) if total is not None else None
