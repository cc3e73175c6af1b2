from django.core.management.base import BaseCommand

from finetune_portal.credentials.services import credentials_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEYS. Run it after "
        "prepending a new key; the old key can be removed once it has finished."
    )

    def handle(self, *args, **options):
        count = credentials_reencrypt()
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count} credential(s) with the newest key."))
