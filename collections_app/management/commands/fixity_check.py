"""manage.py fixity_check [--collection SLUG] [--limit N]: re-hash archived files and compare
them with their recorded sha256 and size (JDDCP principle 7: verifiable, fixed versions)."""
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from collections_app.models import StoredFile, VersionEntry
from collections_app.services.storage import verify
from tcia.core.audit import log


class Command(BaseCommand):
    help = "Verify that stored files (by default those in published versions) still hash to their sha256."

    def add_arguments(self, parser):
        parser.add_argument("--collection", default="", help="Only files of this collection's versions.")
        parser.add_argument("--all", action="store_true", help="Every stored file, not only published ones.")
        parser.add_argument("--limit", type=int, default=0)

    def handle(self, collection, all, limit, **options):
        if all:
            qs = StoredFile.objects.all()
        else:
            entries = VersionEntry.objects.all()
            if collection:
                entries = entries.filter(version__collection__slug=collection)
            qs = StoredFile.objects.filter(pk__in=entries.values("stored_file_id"))
        qs = qs.order_by("pk")
        if limit:
            qs = qs[:limit]
        bad = []
        for stored in tqdm(qs.iterator(chunk_size=1000), total=qs.count(), unit="file", disable=options["verbosity"] < 1):
            try:
                ok = verify(stored)
            except FileNotFoundError:
                ok = False
            if not ok:
                bad.append(stored.sha256)
                self.stderr.write(f"FIXITY FAILURE {stored.sha256} ({stored.storage_name})")
        log("storage.fixity_check", checked=qs.count(), failures=len(bad), failed=bad[:100])
        if bad:
            raise CommandError(f"{len(bad)} file(s) failed the fixity check.")
        self.stdout.write(self.style.SUCCESS("All files verified."))
