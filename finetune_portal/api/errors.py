"""OpenAI's error format, the one shape every /v1 answer that is not a success takes:
``{"error": {"message", "type", "param", "code"}}``. The SDK copies these fields onto its exception
(``.code``, ``.param``, ``.type``) and picks the exception class from the status."""

from __future__ import annotations

from django.http import JsonResponse

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"


class ApiError(Exception):
    """Raised anywhere under a /v1 handler; the dispatcher turns it into the error response."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JsonResponse:
        response = JsonResponse(self.body(), status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    """A 400: the request cannot succeed as sent."""
    return ApiError(400, message, param=param, code=code)


def model_not_found(name: str) -> ApiError:
    # OpenAI's own words, so an application's handling of a mistyped model carries over; another
    # project's model reads the same, which reveals nothing about it.
    return ApiError(
        404,
        f"The model `{name}` does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )
