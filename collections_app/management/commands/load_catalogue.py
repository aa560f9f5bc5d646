from django.core.management.base import BaseCommand

from collections_app.services.catalogue import load_catalogue


class Command(BaseCommand):
    help = "Create or update the seed catalogue (the 15 collections of the data descriptor's Table 1)."

    def handle(self, *args, **options):
        created, updated = load_catalogue()
        self.stdout.write(self.style.SUCCESS(f"Seed catalogue: {created} created, {updated} updated."))
