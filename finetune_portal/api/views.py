"""The user's API tokens page: create (the secret is shown once, on the answer to the POST) and revoke."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from finetune_portal.api.forms import ApiTokenForm
from finetune_portal.api.models import ApiToken
from finetune_portal.api.selectors import api_tokens_for_user
from finetune_portal.api.services import ApiTokenError, api_token_create, api_token_revoke


def _page(request, *, form, created=None, raw=""):
    context = {
        "form": form,
        "tokens": api_tokens_for_user(request.user),
        "created": created,
        "raw_token": raw,
        "base_url": request.build_absolute_uri("/v1"),
    }
    template = "api/tokens.html#token-list" if request.htmx and created is None else "api/tokens.html"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
def tokens_page(request):
    form = ApiTokenForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            token, raw = api_token_create(
                user=request.user,
                project=form.cleaned_data["project"],
                name=form.cleaned_data["name"],
                actor=request.user,
            )
        except ApiTokenError as exc:
            form.add_error(None, str(exc))
        else:
            # Rendered, not redirected: the secret must not pass through the session's message store.
            return _page(request, form=ApiTokenForm(user=request.user), created=token, raw=raw)
    return _page(request, form=form)


@require_POST
def token_revoke(request, token_id: int):
    token = ApiToken.objects.filter(pk=token_id, user=request.user).first()
    if token is None:
        raise Http404("No such token.")
    api_token_revoke(token=token, actor=request.user)
    if request.htmx:
        return _page(request, form=ApiTokenForm(user=request.user))
    messages.success(request, f"Revoked {token.name} ({token.display_prefix}…).")
    return redirect("api:tokens")
