from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data (load_demo, load_demo_proposals): the top layer, above every app, because it
    drives the archive, curation intake, publication and the committee through their services.
    No app imports it."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "demo"
    verbose_name = "Demo data"
