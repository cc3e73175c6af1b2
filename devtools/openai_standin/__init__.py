"""A stateful stand-in for OpenAI's fine-tuning API, for tests and demos. It is not OpenAI."""

from __future__ import annotations

from devtools.openai_standin.server import StandinServer
from devtools.openai_standin.state import StandinState

__all__ = ["StandinServer", "StandinState"]
