"""manage.py ingest PATH --collection SLUG: take a folder (or file, or zip) into a submission.

`--retry BATCH` takes the failed and rejected files of a batch again (their kept originals);
`--resume BATCH` goes on with a batch whose worker died. Both run here, with a progress bar.
"""
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from collections_app.models import Collection
from curation.models import IntakeBatch, Submission
from curation.services import staging
from curation.services.intake import Intake, max_file_bytes, start_batch
from curation.services.submissions import create_submission


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def walk(root: Path):
    """(path, refusal) for every file under `root` in a stable order. Symbolic links are
    followed only while they stay inside `root`; one that leads out is refused, never read."""
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        here = Path(dirpath)
        for name in list(dirnames):
            link = here / name
            if link.is_symlink() and not _inside(link.resolve(), real_root):
                yield link, "a symbolic link to a folder outside the ingested folder: not followed"
        for name in sorted(filenames):
            path = here / name
            if path.is_symlink():
                target = path.resolve()
                if not _inside(target, real_root):
                    yield path, "a symbolic link to a file outside the ingested folder: not followed"
                    continue
                if not target.is_file():
                    yield path, "a symbolic link to nothing readable: not followed"
                    continue
            yield path, ""


class Command(BaseCommand):
    help = "De-identify and ingest DICOM files (a folder, a file or a zip) into a collection's submission."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?")
        parser.add_argument("--collection", help="Collection slug (its submission is created if needed).")
        parser.add_argument("--retry", type=int, metavar="BATCH", help="take the failed and rejected files of BATCH again")
        parser.add_argument("--resume", type=int, metavar="BATCH", help="go on with a batch whose worker stopped")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, path=None, collection=None, retry=None, resume=None, no_progress=False, **options):
        if retry or resume:
            return self._again(retry or resume, retry=bool(retry), no_progress=no_progress)
        if not path or not collection:
            raise CommandError("give PATH and --collection SLUG (or --retry/--resume BATCH)")
        root = Path(path)
        if not root.exists():
            raise CommandError(f"{root}: no such file or folder")
        try:
            coll = Collection.objects.get(slug=collection)
        except Collection.DoesNotExist:
            raise CommandError(f"no collection with slug {collection!r}") from None
        submission = Submission.objects.filter(collection=coll).first() or create_submission(collection=coll)
        files = list(walk(root)) if root.is_dir() else [(root, "")]
        batch = start_batch(submission=submission, source=IntakeBatch.Source.CLI, label=str(root), total=len(files))
        owner = staging.owner_id()
        staging.claim(batch.pk, owner)
        intake = Intake(submission, batch)
        bar = tqdm(total=len(files), unit="file", disable=no_progress, desc="ingest")
        chunk, chunk_bytes = [], 0

        def flush():
            nonlocal chunk, chunk_bytes
            if chunk:
                intake.take_many(chunk)
                bar.update(len(chunk))
                staging.renew(batch.pk, owner)
            chunk, chunk_bytes = [], 0

        try:
            for file, refusal in files:
                name = str(file.relative_to(root)) if root.is_dir() else file.name
                try:
                    size = 0 if refusal else file.stat().st_size
                    alone = refusal or size > max_file_bytes() or name.lower().endswith(".zip")
                    if not alone:
                        data = file.read_bytes()
                        alone = data[:4] == b"PK\x03\x04"
                except OSError as exc:
                    intake.reject(name, f"cannot read: {exc.strerror}")
                    bar.update(1)
                    continue
                if alone:
                    if refusal:
                        intake.reject(name, refusal)
                    else:
                        with file.open("rb") as fh:
                            intake.take_file(fh, name, size)
                    bar.update(1)
                    continue
                if chunk and (len(chunk) >= staging.CHUNK_FILES or chunk_bytes + size > staging.CHUNK_BYTES):
                    flush()
                chunk.append((data, name, None))
                chunk_bytes += size
            flush()
            batch = intake.finish()
        finally:
            bar.close()
            staging.release(batch.pk, owner)
        self._report(staging.recount(batch))

    def _again(self, batch_id, *, retry, no_progress):
        try:
            batch = IntakeBatch.objects.get(pk=batch_id)
        except IntakeBatch.DoesNotExist:
            raise CommandError(f"no intake batch {batch_id}") from None
        if retry:
            count = staging.retry(batch, queue=False)
            self.stdout.write(f"Batch {batch.pk}: retrying {count} file(s)")
        waiting = batch.staged_files.filter(state="waiting").count()
        bar = tqdm(total=waiting, unit="file", disable=no_progress, desc="ingest")
        batch = staging.process_batch(batch.pk, progress=lambda staged: bar.update(1))
        bar.close()
        if batch.lease_owner and batch.state != "done":
            raise CommandError(f"batch {batch.pk} is being taken by {batch.lease_owner}; try again when its lease ends")
        self._report(batch)

    def _report(self, batch):
        self.stdout.write(
            f"Batch {batch.pk}: {batch.processed} files — {batch.accepted} accepted, {batch.unchanged} unchanged, "
            f"{batch.conflicts} conflicting UIDs (flagged), {batch.rejected} rejected, {batch.failed} failed"
        )
        for item in batch.items.filter(outcome__in=["rejected", "failed"], superseded_by__isnull=True):
            self.stdout.write(self.style.WARNING(f"  {item.outcome} {item.name}: {item.reason}"))
