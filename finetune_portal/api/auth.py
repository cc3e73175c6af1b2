"""Who is calling /v1: a personal API token in ``Authorization: Bearer``, never the session (an API
call carries no cookie and no CSRF token, so accepting the session would open /v1 to cross-site
requests from a logged-in browser)."""

from __future__ import annotations

from dataclasses import dataclass

from finetune_portal.api.errors import ApiError
from finetune_portal.api.models import ApiToken
from finetune_portal.api.services import api_token_mark_used, api_token_verify
from finetune_portal.projects.models import Project

MISSING = (
    "You didn't provide an API token. Send it in an Authorization header using Bearer auth "
    "(Authorization: Bearer ftp_...); create one on your API tokens page in the portal."
)


@dataclass(frozen=True)
class ApiCaller:
    token: ApiToken
    user: object
    project: Project


def _unauthorized(message: str, code: str | None) -> ApiError:
    return ApiError(401, message, code=code, headers={"WWW-Authenticate": 'Bearer realm="v1"'})


def authenticate(request) -> ApiCaller:
    """The caller the request's token stands for, or a 401 ApiError in OpenAI's shape."""
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw:
        raise _unauthorized(MISSING, None)
    check = api_token_verify(raw=raw)
    if check.token is None:
        raise _unauthorized(check.problem, "invalid_api_key")
    api_token_mark_used(token=check.token)
    return ApiCaller(token=check.token, user=check.token.user, project=check.token.project)
