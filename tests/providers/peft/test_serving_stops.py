"""Stop sequences over streamed text."""

from __future__ import annotations

from finetune_portal.providers.peft.serving.stops import split_at_stop, split_safe_prefix


def test_the_answer_ends_before_the_earliest_stop_sequence():
    assert split_at_stop("one two User: three END", ("END", "User:")) == ("one two ", True)
    assert split_at_stop("no stop here", ("END",)) == ("no stop here", False)
    assert split_at_stop("anything", ()) == ("anything", False)


def test_the_beginning_of_a_stop_sequence_is_held_back_until_it_is_known():
    assert split_safe_prefix("Hello Us", ("User:",)) == ("Hello ", "Us")
    assert split_safe_prefix("Hello U", ("User:", "Ugh")) == ("Hello ", "U")
    assert split_safe_prefix("Hello", ("User:",)) == ("Hello", "")
    # The longest possible beginning is kept, across stop sequences.
    assert split_safe_prefix("abc\n\n", ("\n\n\n", "x")) == ("abc", "\n\n")
