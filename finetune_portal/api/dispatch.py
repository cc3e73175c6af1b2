"""One Django view per /v1 resource, built from a handler per HTTP method.

``resource(get=models_list)`` gives a view that is CSRF exempt and outside the portal's login (a token
authenticates instead), answers a method it has no handler for with 405, authenticates the token and
hands ``(request, caller, **url_kwargs)`` to the handler. Whatever goes wrong comes back in OpenAI's
error format. New endpoints (files, fine-tuning jobs) are a handler module and a line in v1/urls.py.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from finetune_portal.api.auth import ApiCaller, authenticate
from finetune_portal.api.errors import SERVER_ERROR, ApiError

logger = logging.getLogger(__name__)

Handler = Callable[..., HttpResponseBase]


def _request_id() -> str:
    return f"req_{secrets.token_hex(12)}"


def resource(**handlers: Handler) -> Callable[..., HttpResponseBase]:
    allowed = {method.upper(): handler for method, handler in handlers.items()}

    @csrf_exempt
    @login_not_required
    def view(request, **kwargs) -> HttpResponseBase:
        request_id = _request_id()
        try:
            handler = allowed.get(request.method or "")
            if handler is None:
                raise ApiError(
                    405,
                    f"Method {request.method} is not allowed on {request.path}; "
                    f"use {', '.join(sorted(allowed))}.",
                    headers={"Allow": ", ".join(sorted(allowed))},
                )
            caller: ApiCaller = authenticate(request)
            response = handler(request, caller, **kwargs)
        except ApiError as error:
            response = error.response()
        except Exception:
            logger.exception("/v1 request %s failed", request_id)
            response = ApiError(
                500, f"The portal failed to answer (request {request_id}); it was logged.", type=SERVER_ERROR
            ).response()
        response["x-request-id"] = request_id
        return response

    return view


@csrf_exempt
@login_not_required
def not_found(request, path: str = "") -> HttpResponseBase:
    """Any other path under /v1, in OpenAI's words."""
    response = ApiError(404, f"Invalid URL ({request.method} {request.path})").response()
    response["x-request-id"] = _request_id()
    return response
