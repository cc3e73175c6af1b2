"""What the engine refuses, in the words and status of OpenAI's error objects."""

from __future__ import annotations


class EngineError(Exception):
    """A request the engine refuses: the HTTP status and the fields of OpenAI's error object."""

    def __init__(
        self, message: str, *, status: int = 400, type: str = "invalid_request_error", code: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code


def model_not_found(name: str, why: str = "") -> EngineError:
    return EngineError(
        f"The model `{name}` does not exist.{' ' + why if why else ''}", status=404, code="model_not_found"
    )
