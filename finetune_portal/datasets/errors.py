"""The error every dataset write raises for bad input from the user."""

from __future__ import annotations


class DatasetInputError(Exception):
    """Bad input from the user, with a message that says what to do about it."""
