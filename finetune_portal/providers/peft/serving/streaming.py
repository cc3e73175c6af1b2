"""From generate()'s token ids to pieces of text, with next to no work in the generating thread.

``TokenStream`` is the streamer handed to generate(): each new token costs it a list append and, when the
reader sleeps, one wake-up; nothing is decoded there. The reader (``text_pieces``) takes the ids that came
meanwhile and decodes them incrementally (``Detokenizer``), so a model faster than its reader (the tiny demo
model makes a token every millisecond or so on a CPU) costs one decode, one HTTP write and one client-side
parse per interval rather than per token. The first piece never waits; slower models still stream token by
token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

REPLACEMENT = "\ufffd"  # what a decode shows for the first bytes of a character whose rest is still to come


class Halted(Exception):
    """Raised inside generate() by the streamer once the reader asked it to stop."""


class TokenStream:
    """generate()'s streamer: the new token ids, handed over as they come; ``halt()`` ends generate() at
    its next token (it raises ``Halted`` there)."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.ended = False
        self._prompt_seen = False
        self._halted = False
        self._ready = threading.Event()  # set when there are ids the reader has not taken, or at the end
        self._end = threading.Event()

    # -- generate()'s side -----------------------------------------------------------------------------

    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # generate() hands the prompt over first
            self._prompt_seen = True
            return
        if self._halted:
            raise Halted
        self.ids.extend(value.reshape(-1).tolist())
        if not self._ready.is_set():
            self._ready.set()

    def end(self) -> None:
        self.ended = True
        self._ready.set()
        self._end.set()

    # -- the reader's side -----------------------------------------------------------------------------

    def halt(self) -> None:
        self._halted = True

    def wait_for_more(self, taken: int, not_before: float | None) -> None:
        """Return once there are ids past ``taken`` (or the stream ended), and not before the monotonic
        time ``not_before`` unless the stream ends first."""
        while len(self.ids) <= taken and not self.ended:
            self._ready.wait()
            self._ready.clear()
        if not_before is not None and not self.ended:
            left = not_before - time.monotonic()
            if left > 0:
                self._end.wait(left)


class Detokenizer:
    """Text of a growing list of token ids, piece by piece, without decoding the whole answer each time.

    It decodes a short window (from the last point where the text was whole) as vLLM and TGI do: a
    tokenizer's decode of a window can differ from the whole decode at the window's start (a SentencePiece
    "▁word" loses its space at the start of a text), so the text of the window's older tokens is taken away
    from that of the whole window. A window whose text ends in an unfinished character waits for its rest.
    """

    def __init__(self, tokenizer: Any):
        self._decode = tokenizer.decode
        self.ids: list[int] = []
        self._prefix = 0  # the window starts here
        self._read = 0  # text up to here has been handed on

    def add(self, ids: list[int]) -> str:
        """The text the new ids complete (may be empty)."""
        self.ids.extend(ids)
        return self._advance(final=False)

    def flush(self) -> str:
        """What is left at the end, an unfinished character included."""
        return self._advance(final=True)

    def _advance(self, *, final: bool) -> str:
        if self._read == len(self.ids):
            return ""
        before = self._decode(self.ids[self._prefix : self._read], skip_special_tokens=True)
        window = self._decode(self.ids[self._prefix :], skip_special_tokens=True)
        if len(window) <= len(before) or (window.endswith(REPLACEMENT) and not final):
            return ""
        self._prefix, self._read = self._read, len(self.ids)
        return window[len(before) :]


def text_pieces(stream: TokenStream, tokenizer: Any, interval: float) -> Iterator[str]:
    """The answer's text as generate() makes it: what arrives within ``interval`` seconds of the last piece
    handed on is joined to the next one; the first piece goes as soon as it is there."""
    detokenizer = Detokenizer(tokenizer)
    taken = 0
    last_sent: float | None = None
    while True:
        stream.wait_for_more(taken, None if last_sent is None else last_sent + interval)
        count = len(stream.ids)
        text = detokenizer.add(stream.ids[taken:count])
        taken = count
        if stream.ended and taken == len(stream.ids):
            text += detokenizer.flush()
            if text:
                yield text
            return
        if text:
            yield text
            last_sent = time.monotonic()
