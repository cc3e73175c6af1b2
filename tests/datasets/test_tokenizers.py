from __future__ import annotations

import hashlib

import pytest
import tiktoken.load
from hypothesis import given, settings
from hypothesis import strategies as st

from finetune_portal.datasets.tokenizers import (
    TokenCounter,
    TokenizerSpec,
    TokenizerUnavailable,
    seed_tiktoken_cache,
)

URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
EXPECTED = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_a_fresh_cache_is_seeded_so_tiktoken_never_downloads(tmp_path, monkeypatch, name):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr("finetune_portal.datasets.tokenizers._seeded", set())

    def no_network(blobpath):
        raise AssertionError(f"tried to download {blobpath}")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)

    path = seed_tiktoken_cache(name)

    assert path.parent == tmp_path
    assert path.name == hashlib.sha1(URL.format(name).encode()).hexdigest()  # noqa: S324
    data = tiktoken.load.read_file_cached(URL.format(name), EXPECTED[name])
    assert hashlib.sha256(data).hexdigest() == EXPECTED[name]


def test_a_corrupt_cached_file_is_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr("finetune_portal.datasets.tokenizers._seeded", set())
    target = tmp_path / hashlib.sha1(URL.format("cl100k_base").encode()).hexdigest()  # noqa: S324
    target.write_bytes(b"truncated")

    seed_tiktoken_cache("cl100k_base")

    assert hashlib.sha256(target.read_bytes()).hexdigest() == EXPECTED["cl100k_base"]


def test_an_encoding_without_an_offline_copy_is_refused():
    with pytest.raises(TokenizerUnavailable, match="No offline copy"):
        seed_tiktoken_cache("p50k_base")


def test_counts_match_tiktoken_and_repeated_texts_hit_the_cache():
    import tiktoken

    counter = TokenCounter(TokenizerSpec("tiktoken", "cl100k_base"))
    texts = ["Hello, world!", "naïve café ☕", "Hello, world!", ""]
    encoding = tiktoken.get_encoding("cl100k_base")
    assert counter.count_many(texts) == [len(encoding.encode_ordinary(t)) for t in texts]
    assert "Hello, world!" in counter._cache


# Spaces next to other whitespace, at the ends, doubled; Unicode spaces; contractions, digits, marks.
TRICKY_TEXTS = [
    "",
    " ",
    "   ",
    " leading",
    "trailing ",
    "two  spaces and   three",
    "I'm sure it's THE'S x's don't",
    "12345 678 9",
    "line one.\n line two\n\nthree \n",
    "tab\there\t and\u00a0nbsp \u2009thin \u3000ideographic",
    "zero\u200bwidth (brackets) a/b c-d ...",
    " \u0301accent e\u0301 caf\u00e9 na\u00efve \u00fcber",
    "\u4e2d\u6587 \u6587\u5b57 \U0001f600\U0001f600 emoji",
    "a. " * 40 + "\r\n end",
]


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_counts_split_at_spaces_equal_tiktoken_on_the_whole_text(name):
    counter = TokenCounter(TokenizerSpec("tiktoken", name))
    encoding = tiktoken.get_encoding(name)
    texts = TRICKY_TEXTS + [text.upper() for text in TRICKY_TEXTS]
    expected = [len(encoding.encode_ordinary(text)) for text in texts]
    assert counter.count_many(texts) == expected
    assert counter.count_many(texts) == expected  # again, from the remembered words


_WHITESPACE = [" ", " ", " ", "  ", "\n", "\t", "\r\n", "\u00a0", "\u2028", "\x1c"]
_WORDS = ["'s", "'T", ".", ",", "(", "/", "-", "a", "Bc", "DEF", "ghi", "7", "123456", "\u00e9", "\u0301"]
_PIECES = st.sampled_from([*_WHITESPACE, *_WORDS, "\u4e2d", "\U0001f600", "\u01c5"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_PIECES, max_size=40).map("".join), min_size=1, max_size=8))
def test_counts_equal_tiktoken_for_any_mix_of_words_and_whitespace(texts):
    for name in ("cl100k_base", "o200k_base"):
        counter = _counter(name)
        encoding = tiktoken.get_encoding(name)
        assert counter.count_many(texts) == [len(encoding.encode_ordinary(text)) for text in texts]


_COUNTERS: dict[str, TokenCounter] = {}


def _counter(name: str) -> TokenCounter:
    # One counter across examples, so later examples also run into words counted before.
    if name not in _COUNTERS:
        _COUNTERS[name] = TokenCounter(TokenizerSpec("tiktoken", name))
    return _COUNTERS[name]
