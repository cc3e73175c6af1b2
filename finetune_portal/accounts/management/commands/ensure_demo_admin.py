from django.conf import settings
from django.core.management.base import BaseCommand

from finetune_portal.accounts.services import demo_admin_ensure


class Command(BaseCommand):
    help = "Create the first site admin (DEMO_ADMIN_USERNAME / DEMO_ADMIN_PASSWORD) and a demo project."

    def handle(self, *args, **options):
        result = demo_admin_ensure(
            username=settings.DEMO_ADMIN_USERNAME,
            password=settings.DEMO_ADMIN_PASSWORD,
            email=settings.DEMO_ADMIN_EMAIL,
        )
        if result.created:
            self.stdout.write(
                self.style.SUCCESS(f"Demo admin created. Log in as {result.username} / {result.password}")
            )
        else:
            self.stdout.write(f"Demo admin {result.username!r} already exists (password unchanged).")
