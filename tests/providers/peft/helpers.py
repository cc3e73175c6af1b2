from __future__ import annotations

import json

COLOURS = ["red", "blue", "green", "yellow", "black", "white", "purple", "orange", "pink", "brown"]


def chat_jsonl(indices) -> bytes:
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"What colour is item {i}?"},
                    {"role": "assistant", "content": f"Item {i} is {COLOURS[i % 10]}."},
                ]
            }
        )
        for i in indices
    ]
    return ("\n".join(lines) + "\n").encode()


def dpo_jsonl(indices) -> bytes:
    lines = [
        json.dumps(
            {
                "input": {"messages": [{"role": "user", "content": f"Colour of item {i}?"}]},
                "preferred_output": [{"role": "assistant", "content": COLOURS[i % 10]}],
                "non_preferred_output": [{"role": "assistant", "content": "I do not know, sorry."}],
            }
        )
        for i in indices
    ]
    return ("\n".join(lines) + "\n").encode()
