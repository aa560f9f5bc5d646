"""The committee chair group: committee members in it record decisions (so does the admin role)."""
from django.db import migrations

CHAIR_GROUP = "committee_chair"


def create_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name=CHAIR_GROUP)


class Migration(migrations.Migration):
    dependencies = [("proposals", "0001_initial"), ("core", "0002_role_groups")]
    operations = [migrations.RunPython(create_group, migrations.RunPython.noop)]
