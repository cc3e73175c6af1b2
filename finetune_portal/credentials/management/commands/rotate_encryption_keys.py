from django.core.management.base import BaseCommand

from finetune_portal.core.fields import encrypted_rows_reencrypt
from finetune_portal.credentials.models import ProviderCredential
from finetune_portal.credentials.services import credentials_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEYS. Run it after "
        "prepending a new key; the old key can be removed once it has finished."
    )

    def handle(self, *args, **options):
        count = credentials_reencrypt()
        # Other secrets (e.g. a project's notification webhook) are rotated with the same keys.
        others = encrypted_rows_reencrypt(skip=(ProviderCredential,))
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-encrypted {count} credential(s) and {others} other secret(s) with the newest key."
            )
        )
