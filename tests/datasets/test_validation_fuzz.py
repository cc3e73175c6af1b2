"""No line crashes the validator: mutated valid lines of every kind always get a verdict.

Each case takes a valid example of one kind, changes a few of its values (any JSON value in any place,
a key removed or added) and validates a file holding it, with that kind and with ``auto``. The search
is bounded so this module stays fast; ``FUZZ_EXAMPLES=2000`` searches longer per kind.
"""

from __future__ import annotations

import copy
import os

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finetune_portal.datasets.validation import KINDS, validate_file
from finetune_portal.providers.registry import dataset_profile, provider_keys

TOOL_CALL_CHAT = {
    "messages": [
        {"role": "system", "content": "You look up the weather."},
        {"role": "user", "content": "Weather in Paris?", "name": "ana"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"P"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "21C"},
        {"role": "assistant", "content": "It is 21C.", "weight": 1},
    ],
    "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
    "parallel_tool_calls": False,
}
FUNCTION_CALL_CHAT = {
    "messages": [
        {"role": "user", "content": "Time?"},
        {"role": "assistant", "function_call": {"name": "clock", "arguments": "{}"}},
        {"role": "function", "name": "clock", "content": "12:00"},
        {"role": "assistant", "content": [{"type": "text", "text": "Noon."}]},
    ],
    "functions": [{"name": "clock", "parameters": {"type": "object"}}],
}
SEEDS = {
    "chat": [
        {
            "messages": [
                {"role": "system", "content": "You are a helpful bank assistant."},
                {"role": "user", "content": "How do I reset my PIN?"},
                {"role": "assistant", "content": "Open Settings, then Security."},
            ]
        },
        TOOL_CALL_CHAT,
        FUNCTION_CALL_CHAT,
    ],
    "completion": [{"prompt": "Q: 2+2?", "completion": " 4"}],
    "alpaca": [{"system": "Be brief.", "instruction": "Add", "input": "2 and 2", "output": "4"}],
    "text": [{"text": "Open Settings, then Security, to reset a PIN."}],
    "dpo": [
        {
            "input": {
                "messages": [{"role": "user", "content": "Hi"}],
                "tools": TOOL_CALL_CHAT["tools"],
                "parallel_tool_calls": True,
            },
            "preferred_output": [{"role": "assistant", "content": "Hello!"}],
            "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
        }
    ],
    "vision": [
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is on this cheque?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://example.com/a.png", "detail": "low"},
                        },
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                    ],
                },
                {"role": "assistant", "content": "A cheque."},
            ]
        }
    ],
    "rft": [
        {
            "messages": [{"role": "developer", "content": "Solve."}, {"role": "user", "content": "1+1?"}],
            "answer": 2,
            "tools": TOOL_CALL_CHAT["tools"],
        }
    ],
}
# Keys the validator looks for, so mutations reach its branches more often than random text would.
KNOWN_KEYS = sorted(
    {
        "messages", "role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call",
        "refusal", "type", "text", "image_url", "url", "detail", "function", "arguments", "id", "tools",
        "functions", "parallel_tool_calls", "prompt", "completion", "instruction", "input", "output",
        "system", "preferred_output", "non_preferred_output", "parameters",
    }
)  # fmt: skip
KNOWN_STRINGS = ["user", "assistant", "system", "tool", "developer", "function", "text", "image_url", "low"]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(KNOWN_STRINGS)
)
json_keys = st.sampled_from(KNOWN_KEYS) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(json_keys, children, max_size=3),
    max_leaves=8,
)


def _paths(value, path=()):
    """Every place in a JSON value, as the keys and indexes that lead there."""
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*path, index))


def _mutate(example, data) -> object:
    path = data.draw(st.sampled_from(list(_paths(example))))
    if not path:
        return data.draw(json_values)
    parent = example
    for step in path[:-1]:
        parent = parent[step]
    action = data.draw(st.sampled_from(["replace", "replace", "delete", "add"]))
    if action == "replace":
        parent[path[-1]] = data.draw(json_values)
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[data.draw(json_keys)] = data.draw(json_values)
    else:
        parent.insert(path[-1], data.draw(json_values))
    return example


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def assert_verdict(report: dict, lines: int) -> None:
    assert isinstance(report["valid"], bool)
    assert report["valid"] == (report["error_count"] == 0)
    if not report["valid"]:
        assert report["errors"], report
    for error in report["errors"]:
        assert isinstance(error["message"], str)
        assert error["message"]
        assert error["line"] is None or 1 <= error["line"] <= lines, error
    assert orjson.loads(orjson.dumps(report)) == report


def trainer_of(kind: str) -> str:
    """A provider that trains this kind (validation reports a kind its target does not train)."""
    return next(key for key in provider_keys() if kind in dataset_profile(key).kinds)


@pytest.mark.parametrize("kind", KINDS)
@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", 100)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_lines_of_every_kind_get_a_verdict(folder, kind, data):
    seed = data.draw(st.sampled_from(SEEDS[kind]))
    example = copy.deepcopy(seed)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        example = _mutate(example, data)
    path = folder / f"{kind}.jsonl"
    # Enough examples for any provider's minimum, so only the mutated line 2 can be wrong.
    path.write_bytes(
        orjson.dumps(seed) + b"\n" + orjson.dumps(example) + b"\n" + (orjson.dumps(seed) + b"\n") * 9
    )

    report = validate_file(path, kind=kind, target=trainer_of(kind))
    assert_verdict(report, lines=11)
    assert {e["line"] for e in report["errors"]} <= {2}, report["errors"]
    assert_verdict(validate_file(path, kind="auto", target=trainer_of(kind)), lines=11)


def test_every_seed_is_valid_for_its_kind(folder):
    for kind, seeds in SEEDS.items():
        path = folder / "seeds.jsonl"
        path.write_bytes(b"".join(orjson.dumps(seed) + b"\n" for seed in seeds) * 10)
        for as_kind in (kind, "auto"):
            report = validate_file(path, kind=as_kind, target=trainer_of(kind))
            assert (report["kind"], report["errors"]) == (kind, []), as_kind


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.binary(max_size=40), min_size=1, max_size=4))
def test_arbitrary_bytes_get_a_verdict(folder, lines):
    path = folder / "bytes.jsonl"
    content = b"\n".join(lines)
    path.write_bytes(content)
    report = validate_file(path, kind="auto", target="local_peft")
    assert_verdict(report, lines=content.count(b"\n") + 1)
