"""chrF of many pairs counted together gives sacrebleu's sentence and corpus chrF, whichever way the
batch is counted (one sort, a sort per order, or pair by pair for a large alphabet)."""

from __future__ import annotations

import random

import pytest
import sacrebleu
from sacrebleu.metrics import CHRF

from finetune_portal.evaluations import chrf_batch, metrics, overlap

SAMPLE = (
    "the card was blocked at the branch , and app would not open again today . Ünïcode café 42 3.5 "
    "1,000 x-ray 7-8 don't &amp; (paren) [box] e.g. a b c 中文 😀 naïve"
)
WORDS = SAMPLE.split(" ")


def _text(rng: random.Random, words: list[str]) -> str:
    return " ".join(rng.choices([*words, "", "\n", "\t"], k=rng.choice([0, 1, 2, 3, 5, 8, 13, 30])))


def _alphabet_text(rng: random.Random, alphabet: list[str], length: int) -> str:
    return "".join(rng.choices([*alphabet, " "], k=length))


def _assert_equals_sacrebleu(outputs: list[str], references: list[str]) -> None:
    chrf = CHRF()
    expected = [chrf.sentence_score(o, [r]).score for o, r in zip(outputs, references, strict=True)]
    got = chrf_batch.sentence_chrf_batch(outputs, references)
    assert len(got) == len(expected)
    for place, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert a == pytest.approx(b, abs=1e-6), (outputs[place], references[place])
    corpus = sacrebleu.corpus_chrf(outputs, [references]).score
    assert chrf_batch.corpus_chrf_batch(outputs, references) == pytest.approx(corpus, abs=1e-6)


@pytest.fixture
def spied(monkeypatch) -> dict[str, int]:
    """How many times each way of counting ran."""
    calls = {"one_sort": 0, "per_order": 0, "pair_by_pair": 0}

    def spy(name: str, real):
        def counted(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        return counted

    monkeypatch.setattr(chrf_batch, "_matches_one_sort", spy("one_sort", chrf_batch._matches_one_sort))
    monkeypatch.setattr(chrf_batch, "_matches", spy("per_order", chrf_batch._matches))
    monkeypatch.setattr(chrf_batch, "chrf_statistics", spy("pair_by_pair", chrf_batch.chrf_statistics))
    return calls


def test_random_pairs_equal_sacrebleu_counted_in_one_sort(spied):
    rng = random.Random(20261130)
    pairs = [(_text(rng, WORDS), _text(rng, WORDS)) for _ in range(1500)]
    pairs += [(ref + " " + rng.choice(WORDS), ref) for _, ref in pairs[:300]]  # many matches
    _assert_equals_sacrebleu([o for o, _ in pairs], [r for _, r in pairs])
    assert spied == {"one_sort": 2, "per_order": 0, "pair_by_pair": 0}  # scores, then the corpus


def test_edge_cases_equal_sacrebleu():
    long = " ".join(random.Random(3).choices(WORDS, k=2000))
    pairs = [
        ("", ""),
        ("word", ""),
        ("", "word"),
        ("   \n\t ", "a"),
        ("a", "a"),
        ("same words here", "same words here"),
        ("aaaaaaaaaa", "aaa"),  # one n-gram counted at most as often as the reference has it
        ("abcde", "abcdefgh"),  # shorter than six characters on one side
        ("Ünïcode café 中文 😀", "unicode cafe 中文 😀😀"),
        ("a\ud800b c", "a\ud800b"),  # a lone surrogate, as a broken decoder may leave
        (long, long[: len(long) // 2]),
        (long, long),
    ]
    _assert_equals_sacrebleu([o for o, _ in pairs], [r for _, r in pairs])


def test_a_single_pair_and_no_pairs():
    _assert_equals_sacrebleu(["the card"], ["the cart"])
    assert chrf_batch.sentence_chrf_batch([], []) == []
    assert chrf_batch.corpus_chrf_batch([], []) == 0.0
    with pytest.raises(ValueError, match="As many"):
        chrf_batch.chrf_statistics_batch(["a"], [])


def test_items_split_in_chunks_count_as_one_batch(monkeypatch):
    rng = random.Random(11)
    pairs = [(_text(rng, WORDS), _text(rng, WORDS)) for _ in range(300)]
    outputs, references = [o for o, _ in pairs], [r for _, r in pairs]
    whole = chrf_batch.chrf_statistics_batch(outputs, references)
    monkeypatch.setattr(chrf_batch, "CHUNK_CHARS", 500)
    assert chrf_batch.chrf_statistics_batch(outputs, references).tolist() == whole.tolist()
    _assert_equals_sacrebleu(outputs, references)


def test_a_larger_alphabet_is_counted_per_order(spied):
    # 300 distinct characters over 3,000 items: too many bits for one key holding all six characters
    # and the item, so each order is sorted apart (the longest ones by their rank among the batch's).
    rng = random.Random(5)
    alphabet = [chr(0x4E00 + i) for i in range(300)]
    outputs = [_alphabet_text(rng, alphabet, rng.randrange(0, 12)) for _ in range(3000)]
    references = [o[:-2] + _alphabet_text(rng, alphabet, 2) if o else "" for o in outputs]
    _assert_equals_sacrebleu(outputs, references)
    assert spied["per_order"] > 0
    assert spied["one_sort"] == 0
    assert spied["pair_by_pair"] == 0


def test_an_alphabet_too_large_for_exact_keys_is_counted_pair_by_pair(spied):
    rng = random.Random(9)
    alphabet = [chr(0x4E00 + i) for i in range(1500)]
    outputs = [_alphabet_text(rng, alphabet, 40) for _ in range(60)]
    references = [o[:20] + _alphabet_text(rng, alphabet, 20) for o in outputs]
    _assert_equals_sacrebleu(outputs, references)
    assert spied["pair_by_pair"] == 2 * len(outputs)  # scores, then the corpus statistics
    assert spied["one_sort"] == spied["per_order"] == 0


def test_item_scores_of_a_run_equal_one_pair_at_a_time():
    rng = random.Random(17)
    pairs = [(_text(rng, WORDS), _text(rng, WORDS)) for _ in range(200)]
    outputs, references = [o for o, _ in pairs], [r for _, r in pairs]
    for metric in (metrics.CHRF, metrics.BLEU, metrics.ROUGE_L, metrics.ACCURACY):
        together = metrics.item_scores(metric, outputs, references)
        one_by_one = [metrics.item_score(metric, o, r) for o, r in pairs]
        assert [s for s, _ in together] == pytest.approx([s for s, _ in one_by_one], abs=1e-9), metric
    assert metrics.summary(metrics.CHRF, outputs, references, [])["value"] == pytest.approx(
        overlap.corpus_chrf(outputs, references), abs=1e-9
    )
