"""PostgreSQL: leave room in the pages of the two tables whose rows the ingest hook updates for
every file (file counts per value, files per value and series), so the updates are HOT (no new
index entries in the value table's seven indexes, no index bloat). Nothing to do elsewhere."""
from django.db import migrations

TABLES = ("phi_phivalue", "phi_phiseriesvalue")


def set_fillfactor(apps, schema_editor, value=70):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {int(value)})")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {table} RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("phi", "0001_initial")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
