from __future__ import annotations

import hashlib

import pytest
import tiktoken.load

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
