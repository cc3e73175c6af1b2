"""Every rule of the validator, each on a small file."""

from __future__ import annotations

import itertools
import json

import pytest

from finetune_portal.datasets.validation import validate_file
from tests.datasets.samples import chat, chats, lines_of, write


def errors_of(report) -> list[tuple[int | None, str]]:
    return [(e["line"], e["message"]) for e in report["errors"]]


def lines_with_errors(report) -> list[int | None]:
    return [e["line"] for e in report["errors"]]


def test_a_clean_chat_file_is_valid_with_stats(tmp_path):
    path = write(tmp_path, lines_of(chats(12)))

    report = validate_file(path, kind="chat")

    assert report["valid"] is True
    assert report["kind"] == "chat"
    assert report["examples"] == 12
    assert report["errors"] == []
    assert report["error_count"] == 0
    stats = report["stats"]
    assert stats["examples"] == 12
    per = stats["tokens_per_example"]
    assert 0 < per["min"] <= per["mean"] <= per["p95"] <= per["max"]
    assert stats["total_tokens"] == pytest.approx(per["mean"] * 12, abs=1)
    assert stats["messages_per_example"] == {"min": 3, "mean": 3.0, "max": 3}
    assert stats["tokenizer"] == "tiktoken:o200k_base"


def test_token_counts_follow_the_cookbook_formula(tmp_path):
    import tiktoken

    example = chat(user="Hello there", answer="General Kenobi")
    path = write(tmp_path, lines_of([example] * 1))

    report = validate_file(path, kind="chat", target="local_peft")

    encoding = tiktoken.get_encoding("o200k_base")
    expected = 3 + sum(
        3 + len(encoding.encode(m["role"])) + len(encoding.encode(m["content"])) for m in example["messages"]
    )
    assert report["stats"]["total_tokens"] == expected
    assert report["stats"]["assistant_tokens"] == len(encoding.encode("General Kenobi"))


def test_the_encoding_follows_the_base_model(tmp_path):
    path = write(tmp_path, lines_of(chats(10)))

    legacy = validate_file(path, kind="chat", base_model="gpt-3.5-turbo")
    current = validate_file(path, kind="chat", base_model="gpt-4.1-mini")

    assert legacy["stats"]["tokenizer"] == "tiktoken:cl100k_base"
    assert legacy["stats"]["max_tokens_per_example"] == 16_385
    assert current["stats"]["tokenizer"] == "tiktoken:o200k_base"
    assert current["stats"]["base_model"] == "gpt-4.1-mini-2025-04-14"


def test_an_empty_file_has_one_error_without_a_line(tmp_path):
    report = validate_file(write(tmp_path, b""))
    assert report["valid"] is False
    assert errors_of(report) == [(None, "The file is empty.")]


def test_a_bom_is_an_error_on_line_1_and_the_rest_is_still_checked(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbf" + lines_of(chats(10)))
    report = validate_file(path, kind="chat")
    assert lines_with_errors(report) == [1]
    assert "byte order mark" in report["errors"][0]["message"]
    assert report["stats"]["examples"] == 10


def test_invalid_utf8_is_reported_with_its_line(tmp_path):
    content = lines_of(chats(5)) + b'{"messages": "caf\xe9"}\n' + lines_of(chats(5))
    report = validate_file(write(tmp_path, content), kind="chat")
    assert lines_with_errors(report) == [6]
    assert "Invalid UTF-8" in report["errors"][0]["message"]


def test_a_line_that_is_not_json_or_holds_two_values_is_an_error(tmp_path):
    content = lines_of(chats(5)) + b"{not json}\n" + b'{"a": 1} {"b": 2}\n' + lines_of(chats(5))
    report = validate_file(write(tmp_path, content), kind="chat")
    assert lines_with_errors(report) == [6, 7]
    assert report["errors"][0]["message"].startswith("Not valid JSON")
    assert "More than one JSON value" in report["errors"][1]["message"]


def test_a_blank_line_in_the_middle_is_an_error_but_trailing_blank_lines_are_not(tmp_path):
    middle = validate_file(write(tmp_path, lines_of(chats(5)) + b"\n" + lines_of(chats(5))), kind="chat")
    trailing = validate_file(write(tmp_path, lines_of(chats(10)) + b"\n\n", "t.jsonl"), kind="chat")
    assert lines_with_errors(middle) == [6]
    assert trailing["valid"] is True
    assert any("blank line" in w["message"] for w in trailing["warnings"])


def test_crlf_endings_and_a_missing_final_newline_are_fine(tmp_path):
    content = lines_of(chats(10)).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    report = validate_file(write(tmp_path, content), kind="chat")
    assert report["valid"] is True
    assert report["examples"] == 10


@pytest.mark.parametrize(
    ("head", "words"),
    [(b"\x1f\x8b\x08\x00rest", "gzip"), (b"PK\x03\x04zip", "zip"), (b"abc\x00\x00\x01", "binary")],
)
def test_a_binary_file_gets_one_clear_message(tmp_path, head, words):
    report = validate_file(write(tmp_path, head + bytes(range(256)) * 10))
    assert report["error_count"] == 1
    assert report["errors"][0]["line"] is None
    assert words in report["errors"][0]["message"]


def test_a_line_that_is_not_an_object_is_an_error(tmp_path):
    content = lines_of([*chats(5), [1, 2], *chats(5)])
    report = validate_file(write(tmp_path, content), kind="chat")
    assert errors_of(report) == [(6, "Each line must be a JSON object, not a list.")]


def test_a_prompt_completion_line_in_a_chat_file_is_an_error_on_that_line(tmp_path):
    content = lines_of([*chats(5), {"prompt": "a", "completion": "b"}, *chats(5)])
    report = validate_file(write(tmp_path, content), kind="auto")
    assert report["kind"] == "chat"
    assert lines_with_errors(report) == [6]
    assert "one kind of example" in report["errors"][0]["message"]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"role": "robot", "content": "x"}, "role 'robot'"),
        ({"role": "user"}, 'has no "content"'),
        ({"role": "user", "content": 42}, "content must be a string or a list"),
        ({"role": "user", "content": "x", "colour": "red"}, "unexpected key(s): colour"),
        ({"role": "user", "content": "x", "weight": 1}, '"weight" is only allowed on assistant'),
        ({"role": "assistant", "content": "x", "weight": 2}, '"weight" must be 0 or 1'),
        ({"role": "tool", "content": "42"}, "tool_call_id"),
        (
            {"role": "user", "content": [{"type": "input_audio"}]},
            "content type 'input_audio' is not supported",
        ),
        (
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
            "image content belongs in a vision dataset",
        ),
        (
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{"}}],
            },
            '"arguments" is not valid JSON',
        ),
    ],
)
def test_chat_message_rules(tmp_path, message, expected):
    bad = {"messages": [{"role": "user", "content": "hi"}, message, {"role": "assistant", "content": "ok"}]}
    report = validate_file(write(tmp_path, lines_of([*chats(9), bad])), kind="chat")
    assert lines_with_errors(report) == [10]
    assert expected in report["errors"][0]["message"]


def test_chat_needs_an_assistant_message_to_learn_from(tmp_path):
    no_assistant = {"messages": [{"role": "user", "content": "hi"}]}
    all_weight_zero = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x", "weight": 0}]
    }
    report = validate_file(write(tmp_path, lines_of([*chats(9), no_assistant, all_weight_zero])), kind="chat")
    assert errors_of(report) == [
        (10, "No assistant message: there is nothing for the model to learn from."),
        (11, "Every assistant message has weight 0: there is nothing to learn from."),
    ]


def test_tool_calls_and_tools_are_accepted(tmp_path):
    example = {
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "21C"},
            {"role": "assistant", "content": "It is 21C.", "weight": 1},
        ],
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
    }
    report = validate_file(write(tmp_path, lines_of([example] * 10)), kind="chat")
    assert report["valid"] is True, report["errors"]


def test_openai_needs_at_least_ten_examples_but_local_training_does_not(tmp_path):
    path = write(tmp_path, lines_of(chats(9)))
    assert errors_of(validate_file(path, kind="chat")) == [
        (None, "9 example(s); OpenAI requires at least 10 (50 to 100 usually help).")
    ]
    assert validate_file(path, kind="chat", target="local_peft")["valid"] is True


def test_only_the_first_100_errors_are_listed_but_all_are_counted(tmp_path):
    content = lines_of([*chats(10), *(["nope"] * 250)])
    report = validate_file(write(tmp_path, content), kind="chat")
    assert report["error_count"] == 250
    assert len(report["errors"]) == 100
    assert report["errors"][0]["line"] == 11
    assert report["errors"][-1]["line"] == 110


def test_warnings_duplicates_missing_system_and_unbalanced_labels(tmp_path):
    examples = [chat(user=f"Review {i}", answer="positive") for i in range(30)]
    examples += [chat(user="Awful fees", answer="negative", system=False)] * 2
    report = validate_file(write(tmp_path, lines_of(examples)), kind="chat")
    assert report["valid"] is True
    messages = " | ".join(w["message"] for w in report["warnings"])
    assert "1 example(s) repeat an earlier example" in messages
    assert "2 example(s) have no system message" in messages
    assert "Labels are very unbalanced" in messages
    assert report["stats"]["label_distribution"] == {"positive": 30, "negative": 2}
    assert report["stats"]["duplicates"] == 1


def test_examples_over_the_base_models_limit_are_a_warning_not_an_error(tmp_path):
    long_answer = "word " * 17_000
    examples = [*chats(9), chat(answer=long_answer)]
    report = validate_file(write(tmp_path, lines_of(examples)), kind="chat", base_model="gpt-3.5-turbo-0125")
    assert report["valid"] is True
    warning = next(w for w in report["warnings"] if "truncated" in w["message"])
    # A warning about the file names the lines it concerns, but is not line 10's own.
    assert warning["line"] is None
    assert warning["lines"] == [10]
    assert report["stats"]["over_limit_examples"] == 1
    assert report["stats"]["over_limit_lines"] == [10]
    # Billing counts a truncated example at the limit.
    per_epoch = report["stats"]["billed_tokens_per_epoch"]
    assert per_epoch < report["stats"]["total_tokens"]


def test_cost_and_default_epochs_come_from_the_catalog(tmp_path):
    from decimal import Decimal

    from finetune_portal.providers.openai.catalog import default_epochs, training_cost

    report = validate_file(write(tmp_path, lines_of(chats(20))), kind="chat", base_model="gpt-4o-mini")
    stats = report["stats"]
    assert stats["default_epochs"] == default_epochs(20) == 5
    assert stats["estimated_billed_tokens"] == stats["total_tokens"] * 5
    assert Decimal(stats["estimated_cost_usd"]) == training_cost(
        "gpt-4o-mini", stats["estimated_billed_tokens"]
    )
    assert stats["prices_taken_on"]


def test_completion_alpaca_and_dpo_kinds(tmp_path):
    completion = [{"prompt": f"Q{i}", "completion": " A"} for i in range(10)]
    alpaca = [{"instruction": f"Say {i}", "input": "", "output": str(i)} for i in range(10)]
    dpo = [
        {
            "input": {"messages": [{"role": "user", "content": f"Hi {i}"}]},
            "preferred_output": [{"role": "assistant", "content": "Hello!"}],
            "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
        }
        for i in range(10)
    ]
    for examples, kind in ((completion, "completion"), (alpaca, "alpaca"), (dpo, "dpo")):
        # OpenAI does not train Alpaca; the local trainer does.
        target = "local_peft" if kind == "alpaca" else "openai"
        path = write(tmp_path, lines_of(examples), f"{kind}.jsonl")
        report = validate_file(path, kind="auto", target=target)
        assert (report["kind"], report["valid"]) == (kind, True), report["errors"]
        assert report["stats"]["total_tokens"] > 0


def test_completion_alpaca_and_dpo_rules(tmp_path):
    bad_completion = {"prompt": "Q", "completion": 3}
    bad_alpaca = {"instruction": "", "output": "x"}
    bad_dpo = {
        "input": {"messages": [{"role": "user", "content": "Hi"}]},
        "preferred_output": [{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}],
        "non_preferred_output": [{"role": "user", "content": "Go away."}],
    }
    completion = validate_file(write(tmp_path, lines_of([bad_completion]), "c.jsonl"), kind="completion")
    alpaca = validate_file(write(tmp_path, lines_of([bad_alpaca]), "a.jsonl"), kind="alpaca")
    dpo = validate_file(write(tmp_path, lines_of([bad_dpo]), "d.jsonl"), kind="dpo", target="local_peft")
    assert '"completion" must be a string, not a number.' in [e["message"] for e in completion["errors"]]
    assert '"instruction" is empty.' in [e["message"] for e in alpaca["errors"]]
    assert [e["message"] for e in dpo["errors"]] == [
        '"preferred_output" must be a list holding exactly one assistant message.',
        '"non_preferred_output[0]" must be an assistant message.',
    ]


def _vision(url: str, role: str = "user", images: int = 1):
    parts = [{"type": "text", "text": "What is on this cheque?"}]
    parts += [{"type": "image_url", "image_url": {"url": url}}] * images
    return {"messages": [{"role": role, "content": parts}, {"role": "assistant", "content": "A cheque."}]}


def test_vision_rules(tmp_path):
    good = [_vision("https://example.com/a.png"), _vision("data:image/png;base64,iVBORw0KGgo=")] * 5
    bad = [
        _vision("data:image/gif;base64,R0lGODlh"),
        _vision("ftp://example.com/a.png"),
        _vision("https://example.com/a.png", images=11),
        {
            "messages": [
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "content": [{"type": "image_url", "image_url": {"url": "https://e/a.png"}}],
                },
            ]
        },
    ]
    ok = validate_file(write(tmp_path, lines_of(good), "good.jsonl"), kind="auto", base_model="gpt-4o")
    assert (ok["kind"], ok["valid"]) == ("vision", True), ok["errors"]
    assert ok["stats"]["images"] == 10
    report = validate_file(write(tmp_path, lines_of([*good, *bad])), kind="vision")
    messages = {e["line"]: e["message"] for e in report["errors"]}
    assert "JPEG, PNG or WEBP" in messages[11]
    assert "https://" in messages[12]
    assert "at most 10" in messages[13]
    assert "only allowed in user messages" in messages[14]


def test_rft_needs_reference_fields_for_the_grader(tmp_path):
    good = [
        {
            "messages": [{"role": "developer", "content": "Solve."}, {"role": "user", "content": f"{i}+1?"}],
            "answer": i + 1,
        }
        for i in range(10)
    ]
    no_reference = {"messages": [{"role": "user", "content": "2+2?"}]}
    ok = validate_file(write(tmp_path, lines_of(good), "ok.jsonl"), kind="auto")
    assert (ok["kind"], ok["valid"]) == ("rft", True), ok["errors"]
    report = validate_file(write(tmp_path, lines_of([*good, no_reference])), kind="rft")
    assert lines_with_errors(report) == [11]
    assert "reference fields" in report["errors"][0]["message"]


def test_auto_detection_fails_clearly_on_unknown_keys(tmp_path):
    report = validate_file(write(tmp_path, lines_of([{"body": "hello"}] * 10)), kind="auto")
    assert report["valid"] is False
    assert report["kind"] is None
    assert "Could not tell the dataset kind" in report["errors"][0]["message"]


def test_local_targets_fall_back_to_tiktoken_with_a_warning(tmp_path):
    report = validate_file(
        write(tmp_path, lines_of(chats(3))), kind="chat", target="local_peft", base_model="no-such/model"
    )
    assert report["valid"] is True
    assert report["stats"]["tokenizer"] == "tiktoken:o200k_base"
    assert any("approximation" in w["message"] for w in report["warnings"])


def test_ranges_and_workers_give_the_same_report_as_one_pass(tmp_path):
    examples = [*chats(40), "broken", *chats(30)]
    content = lines_of(examples)
    content = content.replace(b"\n", b"\n\n", 1)  # a blank line after line 1
    path = write(tmp_path, content + b"\n")

    whole = validate_file(path, kind="chat")
    pieces = validate_file(path, kind="chat", chunk_bytes=300)
    parallel = validate_file(path, kind="chat", chunk_bytes=300, workers=2)

    assert whole == pieces == parallel
    assert lines_with_errors(whole) == [2, 42]


def test_progress_is_reported_while_reading(tmp_path):
    path = write(tmp_path, lines_of([*chats(30), "broken"]))
    calls = []
    validate_file(path, kind="chat", chunk_bytes=500, progress=lambda *done: calls.append(done))
    assert len(calls) > 3
    assert calls == sorted(calls)
    assert calls[-1] == (31, 1, path.stat().st_size)


def test_the_report_is_plain_json(tmp_path):
    report = validate_file(write(tmp_path, lines_of(chats(10))), kind="chat")
    assert json.loads(json.dumps(report)) == report


_LISTED_DETAIL = {"url": "https://example.com/a.png", "detail": ["low"]}


@pytest.mark.parametrize(
    ("kind", "message", "expected"),
    [
        ("chat", {"role": ["user"], "content": "x"}, '"role" must be a string, not a list'),
        ("chat", {"role": {"name": "user"}, "content": "x"}, '"role" must be a string, not an object'),
        ("chat", {"role": ["user"], "content": "x", "name": "a"}, '"role" must be a string, not a list'),
        ("chat", {"content": "x"}, 'has no "role"'),
        (
            "vision",
            {"role": "user", "content": [{"type": "image_url", "image_url": _LISTED_DETAIL}]},
            'detail must be "low", "high" or "auto", not a list',
        ),
    ],
)
def test_odd_json_types_are_line_errors_not_crashes(tmp_path, kind, message, expected):
    bad = {"messages": [message, {"role": "assistant", "content": "ok"}]}
    report = validate_file(write(tmp_path, lines_of([*chats(9), bad])), kind=kind)
    assert lines_with_errors(report) == [10]
    assert expected in report["errors"][0]["message"]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_crash_in_a_check_names_its_line_counted_from_the_start_of_the_file(tmp_path, monkeypatch, workers):
    from finetune_portal.datasets.validation.crash import ValidationCrash
    from finetune_portal.datasets.validation.kinds import CHECKERS

    checker = CHECKERS["chat"]

    def broken_check(example):
        if example["messages"][1]["content"] == "Question number 37?":
            raise KeyError("boom")
        return checker(example)

    monkeypatch.setitem(CHECKERS, "chat", broken_check)
    path = write(tmp_path, lines_of(chats(60)))

    with pytest.raises(ValidationCrash) as crashed:
        validate_file(path, kind="chat", chunk_bytes=500, workers=workers)

    assert (crashed.value.line, crashed.value.error_type) == (38, "KeyError")
    assert str(crashed.value) == "internal error while validating, line 38: KeyError: 'boom'"


def test_a_vision_file_whose_first_lines_are_text_only_is_detected_as_vision(tmp_path):
    examples = [*chats(5), *[_vision("https://example.com/a.png")] * 5]
    report = validate_file(write(tmp_path, lines_of(examples)), kind="auto", base_model="gpt-4o")
    assert (report["kind"], report["valid"]) == ("vision", True), report["errors"]
    assert report["stats"]["images"] == 5


def test_the_kind_is_the_one_most_sampled_lines_have_so_a_stray_first_line_is_reported_alone(tmp_path):
    content = lines_of([{"prompt": "a", "completion": "b"}, *chats(11)])
    report = validate_file(write(tmp_path, content), kind="auto")
    assert report["kind"] == "chat"
    assert lines_with_errors(report) == [1]
    assert "one kind of example" in report["errors"][0]["message"]


def test_a_chat_file_with_an_extra_key_on_every_line_is_chat_and_the_key_is_named(tmp_path):
    examples = [{**chat(user=f"Question {i}?"), "id": i} for i in range(10)]
    report = validate_file(write(tmp_path, lines_of(examples)), kind="auto")
    assert report["kind"] == "chat"
    assert lines_with_errors(report) == list(range(1, 11))
    assert "Unexpected key(s) id" in report["errors"][0]["message"]


@pytest.mark.parametrize(
    ("content", "line", "expected"),
    [
        (
            lines_of([{"mesages": [], "id": 1}] * 10),
            1,
            "line 1 has keys 'mesages', 'id': did you mean 'messages'? Choose the kind explicitly.",
        ),
        (
            b"\n" + lines_of([{"promt": "a", "complection": "b"}] * 3),
            2,
            "line 2 has keys 'promt', 'complection': did you mean 'prompt' or 'completion'?",
        ),
        (lines_of([{"body": "hello"}] * 10), 1, "line 1 has keys 'body', none of a known kind"),
        (lines_of(['"just a string"']), 1, "line 1 is a string, not a JSON object"),
        (json.dumps(chats(10)).encode(), 1, "the file is one JSON array, not one object per line"),
        (json.dumps(chats(10), indent=2).encode(), 1, "the file is one JSON array, not one object per line"),
        (json.dumps(chat(), indent=2).encode(), 1, "pretty-printed JSON"),
        (lines_of(chats(10)).replace(b"\n", b"\r"), 1, "lines end in CR only"),
        (b"{oops\n{nope\n", 1, "no line parses as JSON (line 1: Not valid JSON"),
    ],
)
def test_when_the_kind_cannot_be_told_the_error_says_why_on_a_line(tmp_path, content, line, expected):
    report = validate_file(write(tmp_path, content), kind="auto")
    assert report["kind"] is None
    assert report["error_count"] == 1
    assert report["errors"][0]["line"] == line
    assert report["errors"][0]["message"].startswith("Could not tell the dataset kind: ")
    assert expected in report["errors"][0]["message"]


def _calling(call=None, **message):
    call = (
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        if call is None
        else call
    )
    return {"role": "assistant", "content": None, "tool_calls": [call], **message}


def _tools(*tools, **example):
    return {**chat(), "tools": list(tools), **example}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (_calling({"type": "function", "function": {"name": "f", "arguments": "{}"}}), 'needs an "id"'),
        (_calling({"id": "c1", "function": {"name": "f", "arguments": "{}"}}), '"type" must be "function"'),
        (_calling({"id": "c1", "type": "function", "function": {"name": "f"}}), '"arguments" must be a JSON'),
        (_calling("c1"), 'tool_calls[0] must be an object with "id", "type" and "function"'),
        (_calling(refusal=["no"]), '"refusal" must be a string, not a list'),
        (
            {"role": "assistant", "function_call": {"name": "f"}},
            '"function_call": "arguments" must be a JSON',
        ),
        (
            {"role": "assistant", "function_call": {"name": "f", "arguments": "{"}},
            '"arguments" is not valid JSON',
        ),
        ({"role": "user", "content": []}, "has an empty content list"),
        ({"role": "user", "content": [{"text": "x"}]}, 'needs a "type" ("text" or "image_url")'),
        ({"role": "user", "content": ["x"]}, 'must be an object with a "type", not a string'),
        ({"role": "user", "content": [{"type": ["text"]}]}, '"type" must be a string, not a list'),
        ({"role": "user", "content": "x", "nme": "ana"}, "unexpected key(s): nme. Did you mean 'name'?"),
    ],
)
def test_tool_call_function_call_and_content_part_fields_openai_requires(tmp_path, message, expected):
    bad = {"messages": [{"role": "user", "content": "hi"}, message, {"role": "assistant", "content": "ok"}]}
    report = validate_file(write(tmp_path, lines_of([*chats(9), bad])), kind="chat")
    assert lines_with_errors(report) == [10]
    assert expected in report["errors"][0]["message"]


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        (_tools({"function": {"name": "f"}}), 'tools[0] must be {"type": "function"'),
        (
            _tools({"type": "function", "function": {"name": ""}}),
            'tools[0].function must be an object with a string "name"',
        ),
        (
            _tools({"type": "function", "function": {"name": "f", "parameters": "{}"}}),
            '"parameters" must be a JSON Schema object, not a string',
        ),
        (
            _tools({"type": "function", "function": {"name": "f", "description": 3}}),
            '"description" must be a string, not a number',
        ),
        ({**chat(), "functions": []}, '"functions" must be a list of 1 to 128'),
        (
            {**chat(), "functions": [{"parameters": {}}]},
            'functions[0] must be an object with a string "name"',
        ),
        ({**chat(), "parallel_tool_calls": "no"}, '"parallel_tool_calls" must be true or false'),
        ({**chat(), "tool": []}, "RFT dataset). Did you mean 'tools'?"),
    ],
)
def test_tool_definitions_and_top_level_keys_openai_requires(tmp_path, example, expected):
    report = validate_file(write(tmp_path, lines_of([*chats(9), example])), kind="chat")
    assert lines_with_errors(report) == [10]
    assert expected in report["errors"][0]["message"]


def test_unknown_keys_of_the_other_kinds_get_a_suggestion(tmp_path):
    report = validate_file(write(tmp_path, lines_of([{"instruction": "x", "outptu": "y"}])), kind="alpaca")
    assert "Unexpected key(s): outptu. Did you mean 'output'?" in [e["message"] for e in report["errors"]]


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        (b'{"messages": [], "tools": [1,]}', "A trailing comma at column 29; JSON allows no comma before"),
        (json.dumps(chat()).encode() + b",", "A comma after the example; a JSONL line holds one object"),
        (b"{} {}", "More than one JSON value on this line"),
        (b'{"messages": "a\x00b"}', "A NUL byte at column 16; a JSONL line holds text only."),
    ],
)
def test_json_problems_are_named_as_a_person_would_fix_them(tmp_path, bad_line, expected):
    report = validate_file(write(tmp_path, lines_of(chats(10)) + bad_line + b"\n"), kind="chat")
    assert errors_of(report) == [(11, next(e["message"] for e in report["errors"]))]
    assert report["errors"][0]["message"].startswith(expected)


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        ({"prompt": None, "completion": "x"}, '"prompt" must be a string, not null.'),
        ({"prompt": "q", "completion": True}, '"completion" must be a string, not a boolean.'),
        ({"prompt": "q", "completion": {}}, '"completion" must be a string, not an object.'),
    ],
)
def test_messages_name_json_types_not_python_types(tmp_path, example, expected):
    report = validate_file(write(tmp_path, lines_of([example])), kind="completion", target="local_peft")
    assert [e["message"] for e in report["errors"]] == [expected]


def test_a_weight_that_is_not_a_number_is_named_by_its_json_type(tmp_path):
    bad = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x", "weight": True}]
    }
    report = validate_file(write(tmp_path, lines_of([bad])), kind="chat", target="local_peft")
    assert '"weight" must be 0 or 1, not a boolean.' in report["errors"][0]["message"]


def test_a_kind_the_target_does_not_train_is_an_error_naming_the_kinds_it_does(tmp_path):
    alpaca = [{"instruction": f"Say {i}", "input": "", "output": str(i)} for i in range(10)]
    path = write(tmp_path, lines_of(alpaca))

    report = validate_file(path, kind="alpaca", target="openai")

    assert report["valid"] is False
    assert report["error_count"] == 1
    (error,) = report["errors"]
    assert error["line"] is None
    assert error["message"].startswith("OpenAI does not train Alpaca data; it trains chat")
    assert "prompt/completion" in error["message"]
    assert report["stats"]["kind_trained"] is False
    # Everything else is still measured, so the page can show what the data holds.
    assert report["stats"]["total_tokens"] > 0


def test_a_key_written_twice_in_one_object_is_an_error_naming_it(tmp_path):
    good = json.dumps(chat(user="Hi", answer="Hello"))
    twice = (
        '{"messages": [{"role": "user", "content": "Hi", "content": "Bye"}, '
        '{"role": "assistant", "content": "ok"}]}'
    )
    nested_json_in_a_string = json.dumps(
        {
            "messages": [
                {"role": "user", "content": 'Parse {"a": 1, "a": 2} please: "x": y'},
                {"role": "assistant", "content": "ok"},
            ]
        }
    )
    compact = '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","role":"user","content":"x"}]}'
    path = write(
        tmp_path, ("\n".join([good] * 9 + [twice, nested_json_in_a_string, compact]) + "\n").encode()
    )

    report = validate_file(path, kind="chat", target="local_peft")

    assert errors_of(report) == [
        (
            10,
            "The key 'content' appears twice in one object; JSON keeps only the last value, "
            "so the first would be lost silently.",
        ),
        (
            12,
            "The key 'role' appears twice in one object; JSON keeps only the last value, "
            "so the first would be lost silently.",
        ),
    ]


def test_file_level_warnings_name_their_first_lines_without_being_a_lines_own(tmp_path):
    examples = [chat(user=f"Q{i}", system=False) for i in range(10)] + [chat(user="Q0", system=False)]

    report = validate_file(write(tmp_path, lines_of(examples)), kind="chat")

    by_text = {w["message"]: w for w in report["warnings"]}
    duplicates = next(w for m, w in by_text.items() if "repeat an earlier example" in m)
    no_system = next(w for m, w in by_text.items() if "no system message" in m)
    assert (duplicates["line"], duplicates["lines"]) == (None, [11])
    assert (no_system["line"], no_system["lines"]) == (None, [1])


def test_the_token_histogram_covers_every_measured_example_and_marks_bins_past_the_limit(tmp_path):
    long_answer = "word " * 17_000
    examples = [*chats(9), chat(answer=long_answer), chat(answer=long_answer)]
    path = write(tmp_path, lines_of(examples))

    report = validate_file(path, kind="chat", base_model="gpt-3.5-turbo-0125")

    stats = report["stats"]
    bins = stats["token_histogram"]
    assert sum(b["count"] for b in bins) == stats["measured_examples"] == 11
    assert bins[0]["from"] == stats["tokens_per_example"]["min"]
    assert bins[-1]["from"] <= stats["tokens_per_example"]["max"] <= bins[-1]["to"]
    assert all(a["to"] + 1 == b["from"] for a, b in itertools.pairwise(bins))
    limit = stats["max_tokens_per_example"]
    assert [b["over_limit"] for b in bins] == [b["from"] > limit for b in bins]
    assert bins[-1]["over_limit"] is True
    assert bins[-1]["count"] == 2
    assert stats["over_limit_examples"] == 2
    assert stats["over_limit_lines"] == [10, 11]
