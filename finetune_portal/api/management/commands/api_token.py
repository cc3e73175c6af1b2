"""API tokens for automation: ``api_token create --user NAME --project SLUG [--name LABEL]`` prints a
new token (and nothing else on stdout, so a script can capture it); ``api_token revoke PREFIX`` revokes
one by its public prefix (``ftp_<lookup>``, as the tokens page shows it) or by the whole token;
``api_token list [--user NAME]`` shows them without secrets."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from finetune_portal.api.models import TOKEN_PREFIX, ApiToken
from finetune_portal.api.services import ApiTokenError, api_token_create, api_token_revoke
from finetune_portal.projects.models import Project


class Command(BaseCommand):
    help = "Create, revoke or list personal API tokens for the OpenAI-compatible endpoint (/v1)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Print a new token for a user in one project.")
        create.add_argument("--user", required=True, help="The username the token acts as.")
        create.add_argument("--project", required=True, help="The project's slug.")
        create.add_argument("--name", default="automation", help="What the token is for.")
        revoke = actions.add_parser("revoke", help="Revoke a token by its ftp_<id> prefix or in full.")
        revoke.add_argument("token", help="ftp_<id> as the tokens page shows it, or the whole token.")
        listing = actions.add_parser("list", help="List tokens (never their secrets).")
        listing.add_argument("--user", help="Only this user's tokens.")

    def handle(self, *args, action: str, **options):
        getattr(self, f"_{action}")(**options)

    def _create(self, *, user: str, project: str, name: str, **_):
        account = get_user_model().objects.filter(username=user).first()
        if account is None:
            raise CommandError(f"No user named {user!r}.")
        scope = Project.objects.filter(slug=project).first()
        if scope is None:
            raise CommandError(f"No project with the slug {project!r}.")
        try:
            _, raw = api_token_create(user=account, project=scope, name=name, actor=None)
        except ApiTokenError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(raw)

    def _revoke(self, *, token: str, **_):
        lookup = token.removeprefix(TOKEN_PREFIX).split("_", 1)[0]
        found = ApiToken.objects.filter(lookup=lookup).first() if token.startswith(TOKEN_PREFIX) else None
        if found is None:
            raise CommandError(
                f"No token {token[: len(TOKEN_PREFIX) + 12]!r} (give ftp_<id> or the whole token)."
            )
        was_active = found.is_active
        api_token_revoke(token=found, actor=None)
        state = "Revoked" if was_active else "Already revoked:"
        self.stdout.write(
            f"{state} {found.display_prefix} ({found.name}, {found.user}, {found.project.slug})."
        )

    def _list(self, *, user: str | None = None, **_):
        tokens = ApiToken.objects.select_related("user", "project").order_by("user__username", "-created_at")
        if user:
            tokens = tokens.filter(user__username=user)
        for token in tokens:
            state = "revoked" if token.revoked_at else "active"
            used = f"last used {token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never used"
            where = f"{token.user}  {token.project.slug}"
            self.stdout.write(f"{token.display_prefix}  {state:7}  {where}  {token.name}  ({used})")
