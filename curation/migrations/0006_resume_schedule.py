"""A django-q2 schedule that resumes intake batches whose worker died (every minute)."""
from django.db import migrations

NAME = "resume stalled intake batches"


def add(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME, defaults={"func": "curation.tasks.resume_stalled_batches", "schedule_type": "I", "minutes": 1,
                             "repeats": -1})


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("curation", "0005_staging"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(add, remove)]
