import django.db.models.deletion
from django.db import migrations, models

# Indexes DICOMweb's lookups need on the frozen manifests (a study or series UID within the
# versions a root serves; an instance by its SOP Instance UID). They live here so the archive
# app's migrations stay untouched.
INDEXES = [
    ("dicomweb_vs_study_idx", "collections_app_versionseries", "study_instance_uid, version_id"),
    ("dicomweb_vs_series_idx", "collections_app_versionseries", "series_instance_uid, version_id"),
    ("dicomweb_ve_sop_idx", "collections_app_versionentry", "sop_instance_uid"),
]


def create_indexes(apps, schema_editor):
    for name, table, columns in INDEXES:
        table = schema_editor.connection.ops.quote_name(table)
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})")


def drop_indexes(apps, schema_editor):
    for name, _table, _columns in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("collections_app", "0003_version_snapshots"),
    ]

    operations = [
        migrations.CreateModel(
            name="InstanceHeader",
            fields=[
                ("stored_file", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True,
                                                     related_name="+", serialize=False, to="collections_app.storedfile")),
                ("dicom_json", models.TextField(help_text="DICOM JSON (PS3.18 F.2) of every element but the pixel data; binary values over the bulk-data threshold are BulkDataURIs relative to the instance (placeholder prefix).")),
                ("transfer_syntax_uid", models.CharField(blank=True, max_length=64)),
                ("summary", models.JSONField(blank=True, default=dict, help_text="The study and series attributes QIDO reads from one instance (StudyTime, AccessionNumber, ...).")),
                ("bits_allocated", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("rows", models.PositiveIntegerField(blank=True, null=True)),
                ("columns", models.PositiveIntegerField(blank=True, null=True)),
                ("samples_per_pixel", models.PositiveSmallIntegerField(default=1)),
                ("number_of_frames", models.PositiveIntegerField(default=0, help_text="0 when the file has no pixel data.")),
                ("pixel_vr", models.CharField(blank=True, max_length=2)),
                ("pixel_offset", models.BigIntegerField(blank=True, help_text="Byte offset of the pixel data value.", null=True)),
                ("pixel_length", models.BigIntegerField(blank=True, help_text="Bytes of a native pixel data value.", null=True)),
                ("frames", models.JSONField(blank=True, default=list, help_text="Encapsulated pixel data: for each frame, its fragments as [offset, length] pairs.")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
