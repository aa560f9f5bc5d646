"""Load the starter safe-private dictionary (curation/deid/tables/safe_private.csv) into the
database, where curators can edit it."""
import csv
from pathlib import Path

from django.db import migrations

CSV = Path(__file__).resolve().parent.parent / "deid" / "tables" / "safe_private.csv"


def load(apps, schema_editor):
    Rule = apps.get_model("curation", "SafePrivateRule")
    if Rule.objects.exists() or not CSV.exists():
        return
    with CSV.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if not row.get("group") or row["group"].startswith("#"):
                continue
            Rule.objects.get_or_create(
                group=int(row["group"], 16),
                creator=row["creator"].strip(),
                element=int(row["element"], 16) & 0xFF,
                defaults={
                    "disposition": row["action"].strip().lower(),
                    "vr": row.get("vr", "")[:2],
                    "name": row.get("name", "")[:120],
                    "source": row.get("source", "")[:120],
                },
            )


class Migration(migrations.Migration):
    dependencies = [("curation", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
