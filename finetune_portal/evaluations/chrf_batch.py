"""chrF of many pairs at once: sacrebleu's chrF statistics (character n-grams of orders 1-6, white space
left out) counted with numpy over a whole batch of items instead of a Counter per text.

Every character becomes a dense id, and n-grams are keys of packed ids in one int64: exact keys, never
hashes. Usually each position's next six characters (0 past its text's end) go into one key under the
item and above the side (answer or reference); one sort then puts together, for every order n, the
positions of one item that share their first n characters, and counting each side per group gives the
matches (the smaller count) to add up per item with ``bincount``. With more distinct characters than
that key can hold, each order is sorted apart (``n * bits <= 63``: at most 1,024 characters in a batch);
beyond that the exact per-pair path in overlap.py counts them. Tests hold all three equal to sacrebleu.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from finetune_portal.evaluations.overlap import CHRF_BETA, CHRF_ORDER, chrf_from_statistics, chrf_statistics

# Items are counted in chunks of about this many characters (answers and references together), so the
# arrays stay a few tens of MB whatever the run's size.
CHUNK_CHARS = 1 << 21
_KEY_BITS = 63
STATISTICS = 3 * CHRF_ORDER


def _chunks(hyps: list[str], refs: list[str]) -> Iterator[tuple[int, int]]:
    start, chars = 0, 0
    for place, (hyp, ref) in enumerate(zip(hyps, refs, strict=True)):
        chars += len(hyp) + len(ref)
        if chars >= CHUNK_CHARS:
            yield start, place + 1
            start, chars = place + 1, 0
    if start < len(hyps):
        yield start, len(hyps)


def chrf_statistics_batch(outputs: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """Per pair, the 18 statistics of ``overlap.chrf_statistics`` (an int64 array, one row a pair)."""
    if len(outputs) != len(references):
        raise ValueError("As many outputs as references are needed.")
    hyps = ["".join(text.split()) for text in outputs]
    refs = ["".join(text.split()) for text in references]
    stats = np.zeros((len(hyps), STATISTICS), dtype=np.int64)
    for start, end in _chunks(hyps, refs):
        part = slice(start, end)
        stats[part] = _counted(hyps[part], refs[part], outputs[part], references[part])
    return stats


def _counted(
    hyps: list[str], refs: list[str], outputs: Sequence[str], references: Sequence[str]
) -> np.ndarray:
    n = len(hyps)
    texts = hyps + refs  # text t: item t % n, the answer when t < n
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=2 * n)
    codes = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    present = np.zeros(int(codes.max()) + 1 if codes.size else 1, dtype=bool)
    present[codes] = True
    alphabet = int(present.sum())
    bits = max(1, (alphabet - 1).bit_length())
    if CHRF_ORDER * bits > _KEY_BITS:
        # Too many distinct characters for an exact packed key: count pair by pair.
        return np.array([chrf_statistics(o, r) for o, r in zip(outputs, references, strict=True)], np.int64)
    ids = (np.cumsum(present, dtype=np.int64) - 1)[codes]

    text_of = np.repeat(np.arange(2 * n, dtype=np.int64), lengths)
    left = np.repeat(np.cumsum(lengths), lengths) - np.arange(codes.size, dtype=np.int64)  # chars to the end
    tag = (text_of % n) << 1 | (text_of >= n)  # item, then side (0 answer, 1 reference)
    hyp_len, ref_len = lengths[:n], lengths[n:]
    stats = np.zeros((n, STATISTICS), dtype=np.int64)
    for order in range(1, CHRF_ORDER + 1):
        column = 3 * (order - 1)
        hyp_count = np.maximum(hyp_len - order + 1, 0)
        ref_count = np.maximum(ref_len - order + 1, 0)
        stats[:, column] = np.where(ref_count > 0, hyp_count, 0)
        stats[:, column + 1] = ref_count
    item_bits = max(1, (n - 1).bit_length())
    padded_bits = (alphabet).bit_length()  # ids from 1, 0 past a text's end
    if item_bits + CHRF_ORDER * padded_bits + 1 <= _KEY_BITS:
        stats[:, 2::3] = _matches_one_sort(ids + 1, left, tag, padded_bits, n)
        return stats
    key = np.zeros(codes.size, dtype=np.int64)
    for order in range(1, CHRF_ORDER + 1):
        key = (key[: codes.size - order + 1] << bits) | ids[order - 1 :]
        starts = left[: key.size] >= order
        stats[:, 3 * order - 1] = _matches(key[starts], tag[: key.size][starts], order * bits, n)
    return stats


def _matches_one_sort(
    ids: np.ndarray, left: np.ndarray, tag: np.ndarray, bits: int, items: int
) -> np.ndarray:
    """Every order's matches from one sort: each position's 6 characters (0 past the text's end) under
    its item, with the side below. Sorted so, the positions of one item that share their first n
    characters lie together for every n, since an n-gram is the start of the 6 characters."""
    size = ids.size
    key = np.zeros(size, dtype=np.int64)
    for offset in range(CHRF_ORDER):
        shifted = np.zeros(size, dtype=np.int64)
        reach = size - offset
        shifted[:reach] = np.where(left[:reach] > offset, ids[offset:], 0)
        key = (key << bits) | shifted
    key = (((tag >> 1) << (CHRF_ORDER * bits) | key) << 1) | (tag & 1)
    key.sort()
    side = (key & 1).astype(bool)
    matches = np.zeros((items, CHRF_ORDER), dtype=np.int64)
    if size == 0:
        return matches
    for order in range(1, CHRF_ORDER + 1):
        below = 1 + (CHRF_ORDER - order) * bits
        gram = key >> below  # item, then the first ``order`` characters
        whole = (gram & ((1 << bits) - 1)) != 0  # no character past the text's end
        last = np.flatnonzero(np.r_[gram[1:] != gram[:-1], True])  # the last position of each group
        in_ref = np.diff(np.cumsum(whole & side, dtype=np.int64)[last], prepend=0)
        in_hyp = np.diff(np.cumsum(whole, dtype=np.int64)[last], prepend=0) - in_ref
        item = gram[last] >> (order * bits)
        matches[:, order - 1] = np.bincount(item, weights=np.minimum(in_hyp, in_ref), minlength=items)
    return matches


def _matches(grams: np.ndarray, tags: np.ndarray, gram_bits: int, items: int) -> np.ndarray:
    """Per item: the answer's n-grams the reference has, each at most as often as the reference has it."""
    if grams.size == 0:
        return np.zeros(items, dtype=np.int64)
    tag_bits = (2 * items - 1).bit_length()
    if gram_bits + tag_bits <= _KEY_BITS:
        keyed = (grams << tag_bits) | tags
    else:
        # The n-gram's rank among the batch's distinct n-grams stands for it (exact, fewer bits).
        # A chunk's positions (a few million at most) and items each fit in well under 32 bits.
        _, rank = np.unique(grams, return_inverse=True)
        keyed = (rank.astype(np.int64) << tag_bits) | tags
    keyed.sort()
    first = np.flatnonzero(np.r_[True, keyed[1:] != keyed[:-1]])
    counts = np.diff(np.r_[first, keyed.size])
    runs = keyed[first]
    # Runs of one n-gram in one item: the answer's (side 0) sorts just before the reference's (side 1).
    paired = (runs[:-1] >> 1) == (runs[1:] >> 1)
    matched = np.minimum(counts[:-1][paired], counts[1:][paired])
    item = (runs[:-1][paired] >> 1) & ((1 << (tag_bits - 1)) - 1)
    return np.bincount(item, weights=matched, minlength=items).astype(np.int64)


def chrf_scores(stats: np.ndarray) -> np.ndarray:
    """sacrebleu's sentence chrF (effective order, no smoothing), 0-100, of each row of statistics."""
    stats = np.asarray(stats, dtype=np.float64).reshape(-1, STATISTICS)
    precision = np.zeros(stats.shape[0])
    recall = np.zeros(stats.shape[0])
    used = np.zeros(stats.shape[0])
    for order in range(CHRF_ORDER):
        n_hyp, n_ref, n_match = stats[:, 3 * order], stats[:, 3 * order + 1], stats[:, 3 * order + 2]
        counted = (n_hyp > 0) & (n_ref > 0)
        precision += np.divide(n_match, n_hyp, out=np.zeros_like(n_match), where=counted)
        recall += np.divide(n_match, n_ref, out=np.zeros_like(n_match), where=counted)
        used += counted
    with np.errstate(invalid="ignore", divide="ignore"):
        precision, recall = precision / used, recall / used
        factor = CHRF_BETA**2
        score = (1 + factor) * precision * recall / (factor * precision + recall)
    return np.where((used > 0) & (precision + recall > 0), 100 * score, 0.0)


def sentence_chrf_batch(outputs: Sequence[str], references: Sequence[str]) -> list[float]:
    """``CHRF().sentence_score(output, [reference]).score`` of each pair."""
    return chrf_scores(chrf_statistics_batch(outputs, references)).tolist()


def corpus_chrf_batch(outputs: Sequence[str], references: Sequence[str]) -> float:
    """``sacrebleu.corpus_chrf(outputs, [references]).score`` (0 for no items)."""
    return chrf_from_statistics(chrf_statistics_batch(outputs, references).sum(axis=0).tolist())
