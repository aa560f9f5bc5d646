import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("collections_app", "0004_image_collection"),
        ("curation", "0004_conflictingfile"),
    ]

    operations = [
        migrations.AlterField(
            model_name="image",
            name="collection",
            field=models.ForeignKey(editable=False, help_text="The series' collection, repeated so the database itself holds one row per SOP Instance UID per collection.", on_delete=django.db.models.deletion.PROTECT, related_name="images", to="collections_app.collection"),
        ),
        migrations.AddConstraint(
            model_name="image",
            constraint=models.UniqueConstraint(fields=("collection", "sop_instance_uid"), name="image_unique_in_collection"),
        ),
    ]
