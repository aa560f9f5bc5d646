"""Each collection owns its objects: images carry their collection (so the database holds one
row per SOP Instance UID per collection) and collections get the namespace that keys their UID
remapping. Collections that already received files keep the archive-wide mapping (an empty
namespace), so a resend of what they hold is still recognised as unchanged."""
import secrets

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery

import collections_app.models


def namespaces(apps, schema_editor):
    Collection = apps.get_model("collections_app", "Collection")
    Series = apps.get_model("collections_app", "Series")
    holding = set(Series.objects.values_list("collection_id", flat=True).distinct())
    for pk in Collection.objects.exclude(pk__in=holding).values_list("pk", flat=True):
        Collection.objects.filter(pk=pk).update(uid_namespace=secrets.token_hex(16))


def image_collections(apps, schema_editor):
    Image = apps.get_model("collections_app", "Image")
    Series = apps.get_model("collections_app", "Series")
    Image.objects.update(collection_id=Subquery(Series.objects.filter(pk=OuterRef("series_id")).values("collection_id")[:1]))


class Migration(migrations.Migration):

    dependencies = [
        ("collections_app", "0003_version_snapshots"),
    ]

    operations = [
        migrations.AddField(
            model_name="collection",
            name="uid_namespace",
            field=models.CharField(blank=True, default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(namespaces, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="collection",
            name="uid_namespace",
            field=models.CharField(blank=True, default=collections_app.models.new_uid_namespace, editable=False, help_text="Keys this collection's UID remapping together with TCIA_DEID_SECRET, so the same original UID gets another new UID in every collection (docs/deid.md). Empty only for collections that received files before namespacing existed: they keep the archive-wide mapping.", max_length=64),
        ),
        migrations.AddField(
            model_name="image",
            name="collection",
            field=models.ForeignKey(null=True, editable=False, help_text="The series' collection, repeated so the database itself holds one row per SOP Instance UID per collection.", on_delete=django.db.models.deletion.PROTECT, related_name="images", to="collections_app.collection"),
        ),
        migrations.RunPython(image_collections, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="image",
            name="image_unique_content",
        ),
    ]
