"""ROUGE-L, BLEU and chrF with the libraries' own definitions and defaults (rouge-score: ROUGE-L F-measure
without a stemmer; sacrebleu: BLEU with the 13a tokenizer and exponential smoothing, chrF with character
6-grams and beta 2), counted with fewer Python steps per item.

rouge-score fills a table of every pair of words for the longest common subsequence, and sacrebleu builds
its scorer's machinery and counters around each sentence and then counts every n-gram again for the corpus
score; over thousands of items that is seconds. Here the longest common subsequence is computed with
whole integers as bit rows, a sentence's n-gram statistics are kept (the same ones sacrebleu sums), and the
corpus scores add them up. Tests hold the results equal to the libraries' on many random pairs.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from functools import lru_cache, wraps

# The n-grams of the texts counted last: every model's answer to an item is compared with the same
# reference, one after another (outputs are answered in item order).
_TEXTS_KEPT = 256
# The statistics of the pairs scored last: a run's summary (the corpus score) adds up the statistics of
# the pairs its items were just scored on. Only short pairs are kept, so the memory stays small (tens of
# MB at most); a longer pair is counted again.
_PAIRS_KEPT = 2**14
_KEPT_PAIR_CHARS = 1000


def _kept_when_short(
    statistics: Callable[[str, str], tuple[int, ...]],
) -> Callable[[str, str], tuple[int, ...]]:
    kept = lru_cache(maxsize=_PAIRS_KEPT)(statistics)

    @wraps(statistics)
    def counted(output: str, reference: str) -> tuple[int, ...]:
        if len(output) + len(reference) <= _KEPT_PAIR_CHARS:
            return kept(output, reference)
        return statistics(output, reference)

    return counted


# --- ROUGE-L --------------------------------------------------------------------------------------

_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")


def _rouge_tokens(text: str) -> list[str]:
    # rouge-score's tokenizer: lower case, anything but a-z and 0-9 separates words.
    return _NON_ALPHANUMERIC.sub(" ", text.lower()).split()


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two word lists (Hyyrö's bit-parallel form: one row
    of the dynamic-programming table is one integer, updated per word of ``b``)."""
    positions: dict[str, int] = {}
    for place, word in enumerate(a):
        positions[word] = positions.get(word, 0) | (1 << place)
    full = (1 << len(a)) - 1
    row = full
    for word in b:
        matched = row & positions.get(word, 0)
        row = ((row + matched) | (row - matched)) & full
    return len(a) - row.bit_count()


def rouge_l(output: str, reference: str) -> float:
    """ROUGE-L F-measure, 0-1, as ``RougeScorer(["rougeL"]).score(reference, output)`` gives it."""
    target, prediction = _rouge_tokens(reference), _rouge_tokens(output)
    if not target or not prediction:
        return 0.0
    common = lcs_length(target, prediction)
    precision, recall = common / len(prediction), common / len(target)
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


# --- shared n-gram matching -----------------------------------------------------------------------


def _matches_per_order(hyp: Counter, ref: Counter, orders: int) -> list[int]:
    """Per n-gram order 1..orders, how many of the answer's n-grams the reference has, each counted at
    most as often as the reference has it. One counter holds every order: an n-gram's length is its
    order."""
    matches = [0] * (orders + 1)
    for gram in hyp.keys() & ref.keys():
        in_hyp, in_ref = hyp[gram], ref[gram]
        matches[len(gram)] += in_hyp if in_hyp < in_ref else in_ref
    return matches[1:]


# --- BLEU -----------------------------------------------------------------------------------------

BLEU_ORDER = 4


# sacrebleu's 13a tokenizer. Its first rule puts spaces around every character of a class, one regular
# expression match (and one template expansion) per character; a translation table does the same in one
# pass. The other rules only touch periods, commas and dashes, so they run only when one is there.
_SPACED = str.maketrans({c: f" {c} " for c in '{|}~[\\]^_` !"#$%&()*+:;<=>?@/'})
_PERIOD_AFTER_NON_DIGIT = re.compile(r"([^0-9])([\.,])")
_PERIOD_BEFORE_NON_DIGIT = re.compile(r"([\.,])([^0-9])")
_DASH_AFTER_DIGIT = re.compile(r"([0-9])(-)")
_ENTITIES = (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"))


def tokenize_13a(line: str) -> str:
    """``sacrebleu.tokenizers.tokenizer_13a.Tokenizer13a()(line)``."""
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        for entity, character in _ENTITIES:
            line = line.replace(entity, character)
    line = f" {line} ".translate(_SPACED)
    if "." in line or "," in line:
        line = _PERIOD_AFTER_NON_DIGIT.sub(r"\1 \2 ", line)
        line = _PERIOD_BEFORE_NON_DIGIT.sub(r" \1 \2", line)
    if "-" in line:
        line = _DASH_AFTER_DIGIT.sub(r"\1 \2 ", line)
    return " ".join(line.split())


@lru_cache(maxsize=_TEXTS_KEPT)
def _word_ngrams(text: str) -> tuple[int, Counter]:
    """The 13a-tokenized word count and word n-grams (as tuples) of orders 1-4; kept, since every
    model's answer to an item is compared with the same reference."""
    words = tokenize_13a(text.rstrip()).split()
    last = len(words)
    grams = [tuple(words[i : i + n]) for n in range(1, BLEU_ORDER + 1) for i in range(last - n + 1)]
    return last, Counter(grams)


@_kept_when_short
def bleu_statistics(output: str, reference: str) -> tuple[int, ...]:
    """sacrebleu's sentence statistics: answer length, reference length, then matched and total n-grams
    per order 1-4."""
    hyp_len, hyp = _word_ngrams(output)
    ref_len, ref = _word_ngrams(reference)
    correct = _matches_per_order(hyp, ref, BLEU_ORDER)
    total = [max(hyp_len - n + 1, 0) for n in range(1, BLEU_ORDER + 1)]
    return (hyp_len, ref_len, *correct, *total)


def bleu_from_statistics(stats: tuple[int, ...] | list[int], *, effective_order: bool) -> float:
    """sacrebleu's ``BLEU.compute_bleu`` with exponential smoothing, 0-100."""
    sys_len, ref_len = stats[0], stats[1]
    correct, total = stats[2 : 2 + BLEU_ORDER], stats[2 + BLEU_ORDER :]
    brevity = 1.0
    if sys_len < ref_len:
        brevity = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    if not any(correct):
        return 0.0
    precisions = [0.0] * BLEU_ORDER
    smoothing, used_orders = 1.0, BLEU_ORDER
    for n in range(1, BLEU_ORDER + 1):
        if total[n - 1] == 0:
            break
        if effective_order:
            used_orders = n
        if correct[n - 1] == 0:
            smoothing *= 2
            precisions[n - 1] = 100.0 / (smoothing * total[n - 1])
        else:
            precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1]
    logs = [math.log(p) if p != 0.0 else -9999999999 for p in precisions[:used_orders]]
    return brevity * math.exp(sum(logs) / used_orders)


def sentence_bleu(output: str, reference: str) -> float:
    """``BLEU(effective_order=True).sentence_score(output, [reference]).score``."""
    return bleu_from_statistics(bleu_statistics(output, reference), effective_order=True)


def corpus_bleu(outputs: list[str], references: list[str]) -> float:
    """``sacrebleu.corpus_bleu(outputs, [references]).score`` (0 for no items)."""
    stats = map(bleu_statistics, outputs, references)
    sums = [sum(column) for column in zip(*stats, strict=True)] or [0] * (2 + 2 * BLEU_ORDER)
    return bleu_from_statistics(sums, effective_order=False)


# --- chrF -----------------------------------------------------------------------------------------

CHRF_ORDER = 6
CHRF_BETA = 2


def _char_slices(length: int) -> list[slice]:
    """Where every character n-gram of orders 1-6 lies in a line of that length (taken with C-level
    ``map`` rather than a Python loop per n-gram); kept for the usual short lines."""
    if length <= _SLICES_KEPT_UP_TO:
        return _kept_char_slices(length)
    return [slice(i, i + n) for n in range(1, CHRF_ORDER + 1) for i in range(length - n + 1)]


_SLICES_KEPT_UP_TO = 256  # every length up to it kept: about 12 MB at most


@lru_cache(maxsize=_SLICES_KEPT_UP_TO + 1)
def _kept_char_slices(length: int) -> list[slice]:
    return [slice(i, i + n) for n in range(1, CHRF_ORDER + 1) for i in range(length - n + 1)]


@lru_cache(maxsize=_TEXTS_KEPT)
def _char_ngrams(text: str) -> tuple[int, Counter]:
    """The characters (white space left out, as chrF does) and character n-grams of orders 1-6."""
    line = "".join(text.split())
    return len(line), Counter(map(line.__getitem__, _char_slices(len(line))))


@_kept_when_short
def chrf_statistics(output: str, reference: str) -> tuple[int, ...]:
    """sacrebleu's chrF statistics: per character order 1-6, the answer's n-grams (0 when the reference
    has none of that order), the reference's, and the matches."""
    hyp_len, hyp = _char_ngrams(output)
    ref_len, ref = _char_ngrams(reference)
    matches = _matches_per_order(hyp, ref, CHRF_ORDER)
    stats: list[int] = []
    for n in range(1, CHRF_ORDER + 1):
        hyp_count, ref_count = max(hyp_len - n + 1, 0), max(ref_len - n + 1, 0)
        stats += [hyp_count if ref_count else 0, ref_count, matches[n - 1]]
    return tuple(stats)


def chrf_from_statistics(stats: tuple[int, ...] | list[int]) -> float:
    """sacrebleu's chrF F-score (effective order, no epsilon smoothing), 0-100."""
    factor = CHRF_BETA**2
    avg_prec = avg_rec = 0.0
    used_orders = 0
    for i in range(CHRF_ORDER):
        n_hyp, n_ref, n_match = stats[3 * i : 3 * i + 3]
        if n_hyp > 0 and n_ref > 0:
            avg_prec += n_match / n_hyp
            avg_rec += n_match / n_ref
            used_orders += 1
    if used_orders == 0:
        return 0.0
    avg_prec /= used_orders
    avg_rec /= used_orders
    if avg_prec + avg_rec:
        score = (1 + factor) * avg_prec * avg_rec
        score /= (factor * avg_prec) + avg_rec
        return 100 * score
    return 0.0


def sentence_chrf(output: str, reference: str) -> float:
    """``CHRF().sentence_score(output, [reference]).score``."""
    return chrf_from_statistics(chrf_statistics(output, reference))


def corpus_chrf(outputs: list[str], references: list[str]) -> float:
    """``sacrebleu.corpus_chrf(outputs, [references]).score`` (0 for no items)."""
    stats = map(chrf_statistics, outputs, references)
    sums = [sum(column) for column in zip(*stats, strict=True)] or [0] * (3 * CHRF_ORDER)
    return chrf_from_statistics(sums)
