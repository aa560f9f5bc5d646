"""The django-q2 schedule of the fixity audit: a run every 15 minutes (each bounded by
TCIA_FIXITY_RUN_SECONDS and TCIA_FIXITY_BYTES_PER_SECOND; change the interval in the admin)."""
from django.db import migrations

NAME = "fixity audit"


def add(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME, defaults={"func": "fixity.tasks.scheduled_run", "schedule_type": "I", "minutes": 15, "repeats": -1})


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("fixity", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(add, remove)]
