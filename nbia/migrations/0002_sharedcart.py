import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("collections_app", "0003_version_snapshots"),
        ("nbia", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="SharedCart",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(help_text="The name in the shared link and in getContentsByName?name= (letters, digits, '.', '_', '-').", max_length=64, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("created_by", models.ForeignKey(blank=True, help_text="Empty when a visitor who was not logged in shared the cart.", null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                ("series", models.ManyToManyField(related_name="+", to="collections_app.series")),
            ],
            options={"ordering": ["-created_at"]},
        ),
    ]
