"""Registers the local stand-in server as the site-wide OpenAI credential, for demos only."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from finetune_portal.credentials.models import ProviderCredential
from finetune_portal.credentials.services import credential_create

LABEL = "Stand-in server (not OpenAI)"


class Command(BaseCommand):
    help = "Point the site-wide OpenAI credential at the local stand-in server (never replaces a real one)."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8765/v1")

    def handle(self, *args, base_url: str, **options):
        current = ProviderCredential.objects.active().filter(kind="openai", project__isnull=True).first()
        if current is not None and current.label != LABEL:
            self.stdout.write(
                self.style.WARNING(
                    f"A site-wide OpenAI credential ({current.label}) exists; left it in place."
                )
            )
            return
        if current is not None and current.base_url == base_url:
            self.stdout.write(f"{LABEL} already points at {base_url}.")
            return
        admin = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
        if admin is None:
            raise CommandError("Create a site admin first (make run does: ensure_demo_admin).")
        credential_create(
            kind="openai",
            secret="sk-standin-demo-key",  # noqa: S106 - the stand-in accepts any key
            label=LABEL,
            base_url=base_url,
            actor=admin,
            options={"standin": True},
        )
        self.stdout.write(self.style.SUCCESS(f"{LABEL} registered site-wide at {base_url}."))
