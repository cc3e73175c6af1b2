"""From generate()'s tokens to streamed text: incremental decoding, pieces joined when generation outruns
the reader, and stop sequences and token counts that do not depend on how the pieces were cut."""

from __future__ import annotations

import pytest
import torch

from finetune_portal.providers.peft import demo_models
from finetune_portal.providers.peft.serving.engine import Engine
from finetune_portal.providers.peft.serving.generation import Finished, GenerationRequest
from finetune_portal.providers.peft.serving.loading import DEMO_CORPUS, tokenizer_load
from finetune_portal.providers.peft.serving.streaming import Detokenizer, TokenStream, text_pieces

QUESTION = [{"role": "user", "content": "What colour is the sky?"}]
# Accents, a dash and an emoji: characters of two to four bytes, split over several byte-level tokens.
TEXT = "Hello! The café is naïve — ☕ and the sky is blue.\nSecond line:  two  spaces."


@pytest.fixture(scope="module")
def tokenizer(model_cache):
    return tokenizer_load(demo_models.tiny_model_folder(cache_dir=model_cache, texts=DEMO_CORPUS))


@pytest.fixture(scope="module")
def sentencepiece_tokenizer():
    """A tokenizer that marks spaces as "▁" (as Llama's and Mistral's do): decoding a window that starts
    mid-text drops its leading space, which incremental decoding must not lose."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.Metaspace()
    bpe.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "</s>"], show_progress=False)
    bpe.train_from_iterator([TEXT, "the sky is blue and the grass is green"], trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="<unk>", eos_token="</s>")


def decoded_in(tokenizer, ids, sizes):
    detokenizer = Detokenizer(tokenizer)
    pieces, start = [], 0
    for size in sizes:
        pieces.append(detokenizer.add(ids[start : start + size]))
        start += size
    pieces.append(detokenizer.add(ids[start:]))
    pieces.append(detokenizer.flush())
    return pieces


@pytest.mark.parametrize("name", ["tokenizer", "sentencepiece_tokenizer"])
@pytest.mark.parametrize("sizes", [[1] * 200, [3] * 70, [7, 1, 2, 30, 5]], ids=["one", "threes", "uneven"])
def test_text_decoded_piece_by_piece_is_the_whole_decode(request, name, sizes):
    tokenizer = request.getfixturevalue(name)
    ids = tokenizer.encode(TEXT, add_special_tokens=False)

    pieces = decoded_in(tokenizer, ids, sizes)

    assert "".join(pieces) == tokenizer.decode(ids, skip_special_tokens=True)
    # A character split over tokens is never sent half-made.
    assert not any("\ufffd" in piece for piece in pieces)


def test_an_unfinished_character_waits_for_its_rest_and_is_flushed_at_the_end(tokenizer):
    ids = tokenizer.encode("☕", add_special_tokens=False)
    assert len(ids) > 1  # three bytes, three tokens of the byte-level vocabulary

    detokenizer = Detokenizer(tokenizer)

    assert detokenizer.add(ids[:1]) == ""
    assert detokenizer.flush() == tokenizer.decode(ids[:1])  # the end of the answer: sent as it is


def test_the_first_piece_goes_at_once_and_what_comes_meanwhile_is_joined(tokenizer):
    ids = tokenizer.encode(TEXT, add_special_tokens=False)
    stream = TokenStream()
    stream.put(torch.tensor([[5, 6, 7]]))  # generate() hands over the prompt first: not part of the answer
    stream.put(torch.tensor(ids[:1]))
    # A long interval: everything after the first piece waits to be joined, unless the answer ends.
    pieces = text_pieces(stream, tokenizer, interval=3600)

    first = next(pieces)
    for token in ids[1:]:
        stream.put(torch.tensor([token]))
    stream.end()
    rest = list(pieces)

    assert first == tokenizer.decode(ids[:1])
    assert len(rest) == 1
    assert first + rest[0] == tokenizer.decode(ids)
    assert stream.ids == ids


@pytest.fixture(scope="module")
def engines(model_cache):
    """The same model answering token by token, and with every piece after the first joined."""
    return Engine(cache_dir=model_cache, stream_interval=0), Engine(
        cache_dir=model_cache, stream_interval=3600
    )


def answer(engine, **settings):
    events = list(engine.generate("demo:tiny", GenerationRequest(messages=QUESTION, **settings)))
    assert isinstance(events[-1], Finished)
    return "".join(events[:-1]), events[-1], len(events) - 1


def test_joined_pieces_give_the_same_text_and_counts_as_token_by_token(engines):
    by_token, joined = engines

    text, finished, _ = answer(by_token, max_tokens=24, temperature=0)
    same_text, same_finished, pieces = answer(joined, max_tokens=24, temperature=0)

    assert same_text == text
    assert same_finished == finished
    assert finished.completion_tokens == 24
    assert pieces <= 2


def test_a_stop_sequence_across_joined_pieces_ends_the_answer_and_counts_tokens_up_to_it(engines, tokenizer):
    free, _, _ = answer(engines[0], max_tokens=24, temperature=0)
    ids = tokenizer.encode(free, add_special_tokens=False)
    stop = free[6:10]  # four characters in the middle, over more than one token
    expected = free[: free.index(stop)]
    needed = next(n for n in range(1, len(ids) + 1) if stop in tokenizer.decode(ids[:n]))

    results = [answer(engine, max_tokens=24, temperature=0, stop=(stop,)) for engine in engines]

    for text, finished, _ in results:
        assert text == expected
        assert finished.finish_reason == "stop"
        assert finished.completion_tokens == needed
