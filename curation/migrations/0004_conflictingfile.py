"""Conflicting resends are kept beside the image, not as a second image row. Images that an
earlier version indexed twice under one SOP Instance UID become: the first row, plus one
ConflictingFile for each later file (flagged by the duplicate-SOP check as before)."""
import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count


def fold_duplicates(apps, schema_editor):
    Image = apps.get_model("collections_app", "Image")
    ConflictingFile = apps.get_model("curation", "ConflictingFile")
    IntakeItem = apps.get_model("curation", "IntakeItem")
    Series = apps.get_model("collections_app", "Series")
    Verdict = apps.get_model("review", "Verdict")
    CorrectionFile = apps.get_model("curation", "CorrectionFile")
    groups = (Image.objects.values("collection_id", "sop_instance_uid").annotate(n=Count("id")).filter(n__gt=1))
    for group in groups:
        rows = list(Image.objects.filter(collection_id=group["collection_id"], sop_instance_uid=group["sop_instance_uid"]).order_by("pk"))
        keep, later = rows[0], rows[1:]
        for image in later:
            if CorrectionFile.objects.filter(image_id=image.pk).exists() or Verdict.objects.filter(image_id=image.pk).exists():
                raise RuntimeError(
                    f"image {image.pk} (SOP Instance UID indexed twice in collection {group['collection_id']}) was corrected "
                    "or reviewed: resolve the duplicate (e.g. give it a new UID) with the previous version, then migrate")
            ConflictingFile.objects.get_or_create(
                collection_id=group["collection_id"], image_id=keep.pk, stored_file_id=image.stored_file_id,
                defaults={"differences": ["(recorded before content comparison)"], "pixels_differ": False},
            )
            IntakeItem.objects.filter(image_id=image.pk).update(image_id=keep.pk)
            Series.objects.filter(pk=image.series_id).update(
                image_count=models.F("image_count") - 1, total_bytes=models.F("total_bytes") - image.file_size)
            image.delete()


class Migration(migrations.Migration):

    dependencies = [
        ("collections_app", "0004_image_collection"),
        ("curation", "0003_corrections"),
        ("review", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConflictingFile",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("differences", models.JSONField(blank=True, default=list, help_text="Attributes whose values differ ('PixelData' when pixel values do).")),
                ("pixels_differ", models.BooleanField(default=False)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("collection", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="conflicting_files", to="collections_app.collection")),
                ("image", models.ForeignKey(help_text="The indexed image with the same SOP Instance UID.", on_delete=django.db.models.deletion.PROTECT, related_name="conflicts", to="collections_app.image")),
                ("stored_file", models.ForeignKey(help_text="The de-identified bytes that were received and not indexed.", on_delete=django.db.models.deletion.PROTECT, related_name="+", to="collections_app.storedfile")),
            ],
            options={
                "ordering": ["id"],
                "constraints": [models.UniqueConstraint(fields=("image", "stored_file"), name="conflict_unique_file")],
            },
        ),
        migrations.RunPython(fold_duplicates, migrations.RunPython.noop),
    ]
