"""Metric functions against values worked out by hand."""

from __future__ import annotations

import pytest

from finetune_portal.evaluations import metrics


def test_accuracy_and_macro_f1_over_three_labels():
    refs = ["POSITIVE", "NEGATIVE", "POSITIVE", "NEUTRAL"]
    outs = ["positive.", " NEGATIVE", "NEUTRAL", "POSITIVE"]
    report = metrics.classification_report(outs, refs)
    # right, right, wrong, wrong
    assert report["accuracy"] == 0.5
    # positive: tp 1 of 2 predicted, 1 of 2 actual -> P = R = F1 = 1/2; negative: 1/1 -> F1 = 1;
    # neutral: 0 right -> F1 = 0.  Mean of (1/2, 1, 0) = 1/2.
    assert report["per_label"]["positive"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert report["per_label"]["negative"]["f1"] == 1.0
    assert report["per_label"]["neutral"]["f1"] == 0.0
    assert report["macro_f1"] == pytest.approx(0.5)
    # rows: reference label, columns: predicted
    assert report["labels"] == ["negative", "neutral", "positive"]
    assert report["confusion"] == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]


def test_an_answer_outside_the_labels_is_counted_as_other():
    report = metrics.classification_report(["I think it is good", "NEGATIVE"], ["POSITIVE", "NEGATIVE"])
    assert report["columns"] == ["negative", "positive", "other"]
    assert report["confusion"] == [[1, 0, 0], [0, 0, 1]]


def test_rouge_l_is_the_f_measure_of_the_longest_common_subsequence():
    # LCS of "the cat on the mat" in "the cat sat on the mat" is 5 words: P = 5/5, R = 5/6, F = 10/11.
    assert metrics.rouge_l("the cat on the mat", "the cat sat on the mat") == pytest.approx(10 / 11)
    assert metrics.rouge_l("dog", "the cat") == 0.0


def test_bleu_is_the_geometric_mean_of_clipped_ngram_precisions():
    # 1-grams 5/6 ("the" clipped to one), 2-grams 3/5, 3-grams 2/4, 4-grams 1/3, same length (BP = 1):
    # (5/6 * 3/5 * 1/2 * 1/3) ** (1/4) = (1/12) ** (1/4).
    value = metrics.corpus_bleu(["the cat sat on the mat"], ["the cat sat on a mat"])
    assert value == pytest.approx(100 * (1 / 12) ** 0.25)
    assert metrics.sentence_bleu("same words here too", "same words here too") == pytest.approx(100.0)
    assert metrics.sentence_chrf("hello world", "hello world") == pytest.approx(100.0)


def test_length_statistics_in_words():
    assert metrics.length_stats(["a b c", "", "d e"]) == {
        "mean_words": pytest.approx(5 / 3),
        "median_words": 2.0,
        "max_words": 3,
        "empty": 1,
    }


def test_json_answers_are_checked_against_the_schema_when_one_is_given():
    schema = {"type": "object", "required": ["label"], "properties": {"label": {"enum": ["POSITIVE"]}}}
    assert metrics.json_score('{"label": "POSITIVE"}', schema) == (1.0, "")
    assert metrics.json_score('```json\n{"label": "POSITIVE"}\n```', schema)[0] == 1.0
    score, why = metrics.json_score('{"label": "NEGATIVE"}', schema)
    assert score == 0.0
    assert "schema" in why
    score, why = metrics.json_score("label: POSITIVE")
    assert score == 0.0
    assert why.startswith("Not JSON")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"score": 7, "reason": "Close, misses the fee."}', (7.0, "Close, misses the fee.")),
        ('```json\n{"score": 10, "reason": "Exact."}\n```', (10.0, "Exact.")),
        ("Score: 3. It invents a branch.", (3.0, "Score: 3. It invents a branch.")),
        ("I cannot grade this.", (None, "I cannot grade this.")),
        ('{"score": 42, "reason": "x"}', (None, '{"score": 42, "reason": "x"}')),
    ],
)
def test_the_judges_score_and_reason_are_read_from_its_answer(text, expected):
    assert metrics.parse_judgement(text) == expected
