"""manage.py report_shared_objects [--fail]: objects one collection holds that belong to another.

Before collections owned their objects, study and series lookups at intake were archive-wide and
UID remapping was keyed by the secret alone, so the same originals sent to two collections were
filed into the first one's series. This lists what such filing left behind: files received for
one collection indexed in another, and studies, series or subjects whose rows disagree about
their collection. Read only; `--fail` exits non-zero when anything is found (for CI or a cron).
"""
from django.core.management.base import BaseCommand
from django.db.models import Count, F

from collections_app.models import Collection, Image, Series, Study
from curation.models import IntakeItem


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def shared_objects() -> list[str]:
    titles = dict(Collection.objects.values_list("pk", "title"))
    lines = []
    misfiled = (
        IntakeItem.objects.filter(image__isnull=False).exclude(image__collection=F("batch__submission__collection"))
        .values("batch__submission__collection", "image__collection").annotate(n=Count("id"))
    )
    for row in misfiled:
        lines.append(f"{_plural(row['n'], 'file')} received for '{titles[row['batch__submission__collection']]}' "
                     f"are indexed in '{titles[row['image__collection']]}'")
    for model, what, field in ((Image, "image", "series__collection"), (Series, "series", "study__collection"),
                               (Series, "series", "subject__collection"), (Study, "study", "subject__collection")):
        rows = model.objects.exclude(collection=F(field)).values("collection", field).annotate(n=Count("id"))
        for row in rows:
            noun = what if row["n"] == 1 or what == "series" else what + "s"
            lines.append(f"{row['n']} {noun} of '{titles[row['collection']]}' hang under "
                         f"'{titles[row[field]]}' ({field.split('__')[0]})")
    return lines


class Command(BaseCommand):
    help = "Report objects shared between collections (files filed into another collection's series)."

    def add_arguments(self, parser):
        parser.add_argument("--fail", action="store_true", help="exit with status 1 when anything is found")

    def handle(self, fail=False, **options):
        lines = shared_objects()
        if not lines:
            self.stdout.write("No objects are shared between collections.")
            return
        self.stdout.write(self.style.WARNING(f"{_plural(len(lines), 'problem')} found:"))
        for line in lines:
            self.stdout.write(f"  - {line}")
        self.stdout.write("Re-send the affected originals to their own collection after removing the misfiled rows "
                          "(docs/deid.md, 'Identity').")
        if fail:
            raise SystemExit(1)
