"""manage.py ingest PATH --collection SLUG [--workers N]: take a folder (or file, or zip) into a submission.

The files are staged by reference (read where they are, never copied) and taken a chunk at a
time by this process and N-1 more it starts (`--workers N`), each claiming its own chunks, with
one progress bar over the whole batch. `--queue` copies the files into the shared staging
storage and hands the batch to the django-q2 workers instead (any machine), waiting for them
unless `--no-wait`. `--retry BATCH` takes the failed and rejected files of a batch again (their
kept originals); `--resume BATCH` goes on with a batch whose process died.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from collections_app.models import Collection
from curation.models import IntakeBatch, Submission
from curation.services import staging
from curation.services.intake import Intake, start_batch
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
        parser.add_argument("--workers", type=int, default=1, help="processes taking the batch's chunks (this one included)")
        parser.add_argument("--queue", action="store_true",
                            help="copy the files into the shared staging storage and let the django-q2 workers take them")
        parser.add_argument("--no-wait", action="store_true", help="with --queue: return once the files are handed over")
        parser.add_argument("--retry", type=int, metavar="BATCH", help="take the failed and rejected files of BATCH again")
        parser.add_argument("--resume", type=int, metavar="BATCH", help="go on with a batch whose process stopped")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, path=None, collection=None, workers=1, queue=False, no_wait=False, retry=None, resume=None,
               no_progress=False, **options):
        if retry or resume:
            batch = self._batch(retry or resume)
            if retry:
                self.stdout.write(f"Batch {batch.pk}: retrying {staging.retry(batch, queue=False)} file(s)")
            return self._run(batch, workers=workers, no_progress=no_progress)
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
        found = list(walk(root)) if root.is_dir() else [(root, "")]
        batch = start_batch(submission=submission, source=IntakeBatch.Source.CLI, label=str(root))
        refs, intake = [], None
        for file, refusal in found:
            name = str(file.relative_to(root)) if root.is_dir() else file.name
            try:
                size = 0 if refusal else file.stat().st_size
            except OSError as exc:
                refusal = f"cannot read: {exc.strerror}"
            if refusal:
                intake = intake or Intake(submission, batch)
                intake.reject(name, refusal)
                IntakeBatch.objects.filter(pk=batch.pk).update(total=batch.total + 1)
                batch.total += 1
                continue
            refs.append((file.resolve(), name, size))
        if queue:
            for file, name, _ in tqdm(refs, unit="file", disable=no_progress, desc="staging"):
                with open(file, "rb") as fh:
                    staging.stage(batch, name=name, fileobj=fh)
            IntakeBatch.objects.filter(pk=batch.pk).update(source=IntakeBatch.Source.UPLOAD, state=IntakeBatch.State.PENDING)
            for _ in range(max(1, workers)):
                staging.close(batch)  # one task per wanted worker: each takes its own chunks
            if no_wait:
                self.stdout.write(f"Batch {batch.pk}: {len(refs)} files handed to the workers")
                return
            return self._wait(batch, no_progress=no_progress)
        staging.stage_references(batch, refs)
        return self._run(batch, workers=workers, no_progress=no_progress)

    def _batch(self, batch_id):
        try:
            return IntakeBatch.objects.get(pk=batch_id)
        except IntakeBatch.DoesNotExist:
            raise CommandError(f"no intake batch {batch_id}") from None

    def _run(self, batch, *, workers, no_progress):
        """Take the batch here and in workers-1 more processes; one bar over all of them."""
        owner = staging.owner_id()
        staging.claim(batch.pk, owner)  # held while this command runs: the batch is not "interrupted"
        IntakeBatch.objects.filter(pk=batch.pk).update(closed=True, error="")
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        helpers = [subprocess.Popen([sys.executable, manage, "ingest", "--resume", str(batch.pk), "--no-progress"],
                                    stdout=subprocess.DEVNULL) for _ in range(max(0, workers - 1))]
        bar = tqdm(total=batch.total, unit="file", disable=no_progress, desc="ingest")

        def progress(staged):
            staging.renew(batch.pk, owner)
            done = IntakeBatch.objects.filter(pk=batch.pk).values_list("processed", flat=True).first()
            bar.update(max(0, done - bar.n))

        try:
            staging.process_batch(batch.pk, owner=owner, progress=progress)
            for helper in helpers:
                helper.wait()
            staging.process_batch(batch.pk, owner=owner)  # what a helper left (or finishing)
        finally:
            staging.release(batch.pk, owner)
            bar.close()
        self._report(staging.recount(IntakeBatch.objects.get(pk=batch.pk)))

    def _wait(self, batch, *, no_progress):
        bar = tqdm(total=batch.total, unit="file", disable=no_progress, desc="ingest")
        while True:
            batch.refresh_from_db()
            bar.total = batch.total
            bar.update(max(0, batch.processed - bar.n))
            if batch.state == IntakeBatch.State.DONE:
                break
            time.sleep(1)
        bar.close()
        self._report(batch)

    def _report(self, batch):
        self.stdout.write(
            f"Batch {batch.pk}: {batch.processed} files — {batch.accepted} accepted, {batch.unchanged} unchanged, "
            f"{batch.conflicts} conflicting UIDs (flagged), {batch.rejected} rejected, {batch.failed} failed"
        )
        for item in batch.items.filter(outcome__in=["rejected", "failed"], superseded_by__isnull=True):
            self.stdout.write(self.style.WARNING(f"  {item.outcome} {item.name}: {item.reason}"))
