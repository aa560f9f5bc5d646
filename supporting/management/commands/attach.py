"""manage.py attach PATH --collection SLUG [--kind KIND] [--description TEXT] [--subject-column COL] [--replace]"""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from collections_app.models import Collection
from supporting import services
from supporting.models import Kind


class Command(BaseCommand):
    help = "Attach a supporting file (table, LIDC XML, document, slide, other) to a collection."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--collection", required=True, help="Collection slug.")
        parser.add_argument("--kind", choices=Kind.values, default="", help="Detected from the file name when omitted.")
        parser.add_argument("--description", default="")
        parser.add_argument("--subject-column", default="", help="Tables: the column naming the subjects.")
        parser.add_argument("--name", default="", help="File name in downloads (default: the file's own name).")
        parser.add_argument("--replace", action="store_true", help="Replace the file of the same name (a new revision).")

    def handle(self, *args, **opts):
        path = Path(opts["path"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        collection = Collection.objects.filter(slug=opts["collection"]).first()
        if collection is None:
            raise CommandError(f"--collection {opts['collection']}: no such collection")
        size = path.stat().st_size
        from tqdm import tqdm

        chunks = []
        with path.open("rb") as fh, tqdm(total=size, unit="B", unit_scale=True, desc=path.name,
                                         disable=opts["verbosity"] < 1, file=self.stderr) as bar:
            while chunk := fh.read(1 << 20):
                chunks.append(chunk)
                bar.update(len(chunk))
        try:
            sf = services.attach(collection, name=opts["name"] or path.name, data=b"".join(chunks), kind=opts["kind"],
                                 description=opts["description"], subject_column=opts["subject_column"],
                                 replace=opts["replace"])
        except services.AttachError as exc:
            raise CommandError(str(exc)) from None
        open_findings = services.findings_of(sf).filter(status="open")
        self.stdout.write(f"{sf.name}: {sf.get_kind_display()}, {sf.stored_file.size} bytes, sha256 {sf.stored_file.sha256}")
        for warning in sf.warnings:
            self.stdout.write(self.style.WARNING(f"warning: {warning}"))
        for f in open_findings:
            self.stdout.write(f"{f.severity}: {f.message}")
        pending = sf.columns.filter(disposition="").exclude(flags=[])
        for review in pending:
            self.stdout.write(f"flagged column {review.column!r} ({', '.join(review.flags)}): needs a disposition")
