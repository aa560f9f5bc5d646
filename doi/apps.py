from django.apps import AppConfig


class DoiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "doi"
    verbose_name = "DOIs and landing pages"

    def ready(self):
        from collections_app.services.publish import register_publication_hook

        from .services import on_archive_event

        register_publication_hook(on_archive_event)
