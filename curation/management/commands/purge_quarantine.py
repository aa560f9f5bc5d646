import datetime as dt

from django.core.files.storage import storages
from django.core.management.base import BaseCommand
from django.utils import timezone

from curation.models import QuarantinedFile
from tcia.core.audit import log


class Command(BaseCommand):
    help = "Delete quarantined originals older than --days (default 30); their records and reasons stay."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--submission", type=int, help="Only this submission's files.")

    def handle(self, days, submission=None, **options):
        cutoff = timezone.now() - dt.timedelta(days=days)
        qs = QuarantinedFile.objects.filter(purged_at__isnull=True, created_at__lte=cutoff)
        if submission:
            qs = qs.filter(submission_id=submission)
        storage = storages["quarantine"]
        count = 0
        for item in qs.iterator():
            if item.storage_name and storage.exists(item.storage_name):
                storage.delete(item.storage_name)
            QuarantinedFile.objects.filter(pk=item.pk).update(storage_name="", purged_at=timezone.now())
            count += 1
        log("quarantine.purge", count=count, older_than_days=days)
        self.stdout.write(f"Purged {count} quarantined file(s).")
