"""manage.py run_checks --collection SLUG [--check NAME ...] [--dciodvfy-sample one_per_series|all|N]"""
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from collections_app.models import Collection

from ... import engine
from ...models import Finding
from ...services import run_checks


class Command(BaseCommand):
    help = "Run the curation checks on a collection and reconcile its findings."

    def add_arguments(self, parser):
        parser.add_argument("--collection", required=True, help="Collection slug.")
        parser.add_argument("--check", action="append", choices=sorted(engine.CHECKS), help="Only this check (repeatable).")
        parser.add_argument("--dciodvfy-sample", default=None,
                            help="Files per series given to dciodvfy: all (default), one_per_series, or a number.")

    def handle(self, *args, **opts):
        try:
            collection = Collection.objects.get(slug=opts["collection"])
        except Collection.DoesNotExist:
            raise CommandError(f"no collection {opts['collection']!r}")
        total = (collection.image_count or 0) + len(opts["check"] or engine.CHECKS)
        bar = tqdm(total=total, unit="step", desc="checks", disable=opts["verbosity"] == 0)

        def progress(n, label):
            if label:
                bar.set_postfix_str(label)
            bar.update(n)

        run = run_checks(collection=collection, checks=opts["check"], progress=progress,
                         dciodvfy_sample=opts["dciodvfy_sample"])
        bar.close()
        counts = {s: Finding.objects.filter(collection=collection, status="open", severity=s).count()
                  for s in ("error", "warning", "info")}
        self.stdout.write(f"run {run.pk}: {run.new} new, {run.resolved} resolved; open: "
                          + ", ".join(f"{n} {s}" for s, n in counts.items()))
