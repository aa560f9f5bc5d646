"""manage.py fixity_check [--collection SLUG] [--all] [--due] [--limit N]: re-hash stored files
and compare them with their recorded sha256 and size (JDDCP principle 7: verifiable, fixed
versions). Each call is recorded as a fixity run (fixity/services.py), like the scheduled ones;
a failure blocks the file's downloads and e-mails the admins."""
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from collections_app.models import VersionEntry
from fixity.models import FixityRecord
from fixity.services import register_new, run_audit


class Command(BaseCommand):
    help = "Verify that stored files (by default those in published versions) still hash to their sha256."

    def add_arguments(self, parser):
        parser.add_argument("--collection", default="", help="Only files of this collection's versions.")
        parser.add_argument("--all", action="store_true",
                            help="Every file whose hash is known (archive and quarantine), not only published ones.")
        parser.add_argument("--due", action="store_true",
                            help="What the schedule does: the files due in this cycle, least recently verified first, "
                                 "within TCIA_FIXITY_RUN_SECONDS and TCIA_FIXITY_BYTES_PER_SECOND.")
        parser.add_argument("--limit", type=int, default=0, help="At most this many files.")

    def handle(self, collection, all, due, limit, **options):
        register_new()
        scope = FixityRecord.objects.all()
        if not all and not due:
            entries = VersionEntry.objects.all()
            if collection:
                entries = entries.filter(version__collection__slug=collection)
            scope = scope.filter(stored_file_id__in=entries.values("stored_file_id"))
        total = scope.count() if not due else None
        if limit and total is not None:
            total = min(total, limit)
        with tqdm(total=total, unit="file", disable=options["verbosity"] < 1) as bar:
            result = run_audit(trigger="command", scope=scope, full=not due, max_seconds=None if due else 0,
                               max_files=limit or None, progress=lambda _n: bar.update(1))
        if result.run is None:
            raise CommandError(f"Not run: {result.skipped}.")
        for record in result.failed_records:
            self.stderr.write(f"FIXITY FAILURE {record.sha256} ({record.storage}:{record.name})")
        run = result.run
        if run.failures:
            raise CommandError(f"{run.failures} file(s) failed the fixity check (run {run.pk}).")
        blocked = scope.filter(blocked=True).count()
        if blocked:
            self.stdout.write(f"{blocked} file(s) verified but still blocked: a curator resolves them on the fixity page.")
        self.stdout.write(self.style.SUCCESS(f"All files verified: {run.files_checked} files, {run.bytes_checked} bytes."))
