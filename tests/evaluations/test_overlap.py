"""ROUGE-L, BLEU and chrF as the portal counts them give what rouge-score and sacrebleu give."""

from __future__ import annotations

import random

import pytest
import sacrebleu
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from finetune_portal.evaluations import overlap

SAMPLE = (
    "the card was blocked at the branch , and app would not open again today . Ünïcode café 42 3.5 "
    "1,000 x-ray 7-8 don't &amp; &quot;quoted&quot; (paren) [box] e.g. a b c 中文"
)
WORDS = SAMPLE.split(" ")


def _text(rng: random.Random) -> str:
    words = rng.choices([*WORDS, "", "\n", "\t"], k=rng.choice([0, 1, 2, 3, 5, 8, 13, 30]))
    return " ".join(words)


@pytest.fixture(scope="module")
def pairs() -> list[tuple[str, str]]:
    rng = random.Random(20240611)
    made = [(_text(rng), _text(rng)) for _ in range(1500)]
    # Answers that copy most of the reference: many matches at every order.
    made += [(ref + " " + rng.choice(WORDS), ref) for _, ref in made[:300]]
    return [*made, ("same words here", "same words here"), ("", ""), ("word", ""), ("", "word")]


def test_rouge_l_equals_rouge_score_on_random_pairs(pairs):
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    for output, reference in pairs:
        expected = scorer.score(reference, output)["rougeL"].fmeasure
        assert overlap.rouge_l(output, reference) == pytest.approx(expected, abs=1e-9), (output, reference)


def test_sentence_bleu_and_chrf_equal_sacrebleu_on_random_pairs(pairs):
    bleu, chrf = BLEU(effective_order=True), CHRF()
    for output, reference in pairs:
        expected_bleu = bleu.sentence_score(output, [reference]).score
        expected_chrf = chrf.sentence_score(output, [reference]).score
        assert overlap.sentence_bleu(output, reference) == pytest.approx(expected_bleu, abs=1e-6)
        assert overlap.sentence_chrf(output, reference) == pytest.approx(expected_chrf, abs=1e-6)


def test_corpus_bleu_and_chrf_equal_sacrebleu(pairs):
    outputs, references = [o for o, _ in pairs], [r for _, r in pairs]
    assert overlap.corpus_bleu(outputs, references) == pytest.approx(
        sacrebleu.corpus_bleu(outputs, [references]).score, abs=1e-6
    )
    assert overlap.corpus_chrf(outputs, references) == pytest.approx(
        sacrebleu.corpus_chrf(outputs, [references]).score, abs=1e-6
    )


def test_long_answers_are_counted_the_same(pairs):
    # Pairs past the size whose statistics are kept for the summary are counted afresh each time.
    output = " ".join(o for o, _ in pairs[:200])
    reference = " ".join(r for _, r in pairs[:200])
    assert len(output) + len(reference) > 1000
    expected = CHRF().sentence_score(output, [reference]).score
    assert overlap.sentence_chrf(output, reference) == pytest.approx(expected, abs=1e-6)
    expected_corpus = sacrebleu.corpus_chrf([output, "a"], [[reference, "a b"]]).score
    assert overlap.corpus_chrf([output, "a"], [reference, "a b"]) == pytest.approx(expected_corpus, abs=1e-6)
    expected_bleu = BLEU(effective_order=True).sentence_score(output, [reference]).score
    assert overlap.sentence_bleu(output, reference) == pytest.approx(expected_bleu, abs=1e-6)


def test_corpus_scores_of_no_items_are_zero():
    assert overlap.corpus_bleu([], []) == 0.0
    assert overlap.corpus_chrf([], []) == 0.0


def test_the_13a_tokenizer_splits_as_sacrebleus_does():
    reference = Tokenizer13a()
    rng = random.Random(7)
    characters = "ab9 0.,-\n\t{|}~[\\]^_`!\"#$%&'()*+:;<=>?@/é"
    pieces = [*characters, "&quot;", "&amp;", "&lt;", "<skipped>", "3,000"]
    for _ in range(20000):
        line = "".join(rng.choices(pieces, k=rng.randint(0, 25)))
        assert overlap.tokenize_13a(line) == reference(line), line


def test_longest_common_subsequence_by_hand():
    # words "a b c b d a b" and "b d c a b a": a longest common subsequence is "b c b a" (4 words).
    assert overlap.lcs_length(list("abcbdab"), list("bdcaba")) == 4
    assert overlap.lcs_length(["x"], ["y"]) == 0
    assert overlap.lcs_length([], ["y"]) == 0
