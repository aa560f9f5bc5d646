"""manage.py ingest PATH --collection SLUG: take a folder (or file, or zip) into a submission."""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from collections_app.models import Collection
from curation.models import IntakeBatch, Submission
from curation.services.intake import Intake, start_batch
from curation.services.submissions import create_submission


class Command(BaseCommand):
    help = "De-identify and ingest DICOM files (a folder, a file or a zip) into a collection's submission."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--collection", required=True, help="Collection slug (its submission is created if needed).")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, path, collection, no_progress=False, **options):
        root = Path(path)
        if not root.exists():
            raise CommandError(f"{root}: no such file or folder")
        try:
            coll = Collection.objects.get(slug=collection)
        except Collection.DoesNotExist:
            raise CommandError(f"no collection with slug {collection!r}") from None
        submission = Submission.objects.filter(collection=coll).first() or create_submission(collection=coll)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        batch = start_batch(submission=submission, source=IntakeBatch.Source.CLI, label=str(root), total=len(files))
        intake = Intake(submission, batch)
        for file in tqdm(files, unit="file", disable=no_progress, desc="ingest"):
            try:
                data = file.read_bytes()
            except OSError as exc:
                intake.reject(str(file.relative_to(root) if root.is_dir() else file.name), f"cannot read: {exc.strerror}", None)
                continue
            name = str(file.relative_to(root)) if root.is_dir() else file.name
            intake.take_any(data, name)
        batch = intake.finish()
        self.stdout.write(
            f"Batch {batch.pk}: {batch.processed} files — {batch.accepted} accepted, {batch.unchanged} unchanged, "
            f"{batch.conflicts} conflicting UIDs (flagged), {batch.rejected} rejected"
        )
        for item in batch.items.filter(outcome="rejected"):
            self.stdout.write(self.style.WARNING(f"  rejected {item.name}: {item.reason}"))
