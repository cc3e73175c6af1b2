"""Dataset rows into TRL's shapes, and which kinds fit which method."""

from __future__ import annotations

import json

import pytest

from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.peft.data import check_kind_fits, rows_from_jsonl, texts_of


def jsonl(*records) -> bytes:
    return "\n".join(json.dumps(r) for r in records).encode()


def test_chat_rows_keep_roles_and_text_and_drop_extra_keys():
    content = jsonl(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                {"role": "assistant", "content": "Hello.", "weight": 1},
            ]
        }
    )

    rows = rows_from_jsonl(content, kind="chat", method="sft")

    assert rows == [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."},
            ]
        }
    ]


def test_alpaca_rows_become_a_user_and_assistant_turn():
    rows = rows_from_jsonl(
        jsonl({"instruction": "Translate", "input": "chat", "output": "cat"}), kind="alpaca", method="sft"
    )

    assert rows[0]["messages"] == [
        {"role": "user", "content": "Translate\n\nchat"},
        {"role": "assistant", "content": "cat"},
    ]


def test_completion_rows_stay_prompt_and_completion():
    rows = rows_from_jsonl(jsonl({"prompt": "2+2=", "completion": "4"}), kind="completion", method="sft")

    assert rows == [{"prompt": "2+2=", "completion": "4"}]


def test_openai_preference_rows_become_prompt_chosen_rejected():
    record = {
        "input": {"messages": [{"role": "user", "content": "Colour of the sky?"}]},
        "preferred_output": [{"role": "assistant", "content": "Blue."}],
        "non_preferred_output": [{"role": "assistant", "content": "Green."}],
    }

    rows = rows_from_jsonl(jsonl(record), kind="dpo", method="dpo")

    assert rows == [
        {
            "prompt": [{"role": "user", "content": "Colour of the sky?"}],
            "chosen": [{"role": "assistant", "content": "Blue."}],
            "rejected": [{"role": "assistant", "content": "Green."}],
        }
    ]
    assert texts_of(rows) == ["Colour of the sky?", "Blue.", "Green."]


def test_a_broken_line_is_named_by_its_number():
    content = jsonl({"messages": [{"role": "user", "content": "ok"}]}) + b"\n{not json\n"

    with pytest.raises(ProviderError) as caught:
        rows_from_jsonl(content, kind="chat", method="sft")

    assert caught.value.message.startswith("Line 2 of the data does not fit an SFT job")


def test_empty_data_is_refused():
    with pytest.raises(ProviderError, match="no examples"):
        rows_from_jsonl(b"\n\n", kind="chat", method="sft")


@pytest.mark.parametrize(
    ("method", "kind"), [("sft", "chat"), ("sft", "alpaca"), ("sft", "completion"), ("dpo", "dpo")]
)
def test_fitting_kinds_pass(method, kind):
    check_kind_fits(method=method, kind=kind)


@pytest.mark.parametrize(
    ("method", "kind"), [("sft", "dpo"), ("sft", "vision"), ("dpo", "chat"), ("rft", "rft")]
)
def test_other_kinds_are_refused_permanently(method, kind):
    with pytest.raises(ProviderError) as caught:
        check_kind_fits(method=method, kind=kind)

    assert caught.value.permanent is True
