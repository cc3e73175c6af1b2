from django.conf import settings
from django.core.management.base import BaseCommand

from finetune_portal.accounts.banner import banner_password_store
from finetune_portal.accounts.services import demo_admin_ensure


class Command(BaseCommand):
    help = "Create the first site admin (DEMO_ADMIN_USERNAME / DEMO_ADMIN_PASSWORD) and a demo project."

    def add_arguments(self, parser):
        parser.add_argument(
            "--for-banner",
            action="store_true",
            help="Keep a new password for the start-up banner (`manage.py start_banner`) instead of "
            "printing it here, where the starting processes' log would scroll it away.",
        )

    def handle(self, *args, for_banner: bool = False, **options):
        result = demo_admin_ensure(
            username=settings.DEMO_ADMIN_USERNAME,
            password=settings.DEMO_ADMIN_PASSWORD,
            email=settings.DEMO_ADMIN_EMAIL,
        )
        if result.created and for_banner and result.password:
            banner_password_store(result.password)
            self.stdout.write(
                self.style.SUCCESS(f"Demo admin {result.username!r} created; the banner shows its password.")
            )
        elif result.created:
            self.stdout.write(
                self.style.SUCCESS(f"Demo admin created. Log in as {result.username} / {result.password}")
            )
        else:
            self.stdout.write(f"Demo admin {result.username!r} already exists (password unchanged).")
