from django.apps import AppConfig


class ReviewConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "curation.review"
    label = "review"
    verbose_name = "Visual review"

    def ready(self):
        from curation.hooks import register_ingest_hook

        from .hooks import on_ingest, on_ingest_many

        register_ingest_hook(on_ingest, many=on_ingest_many)
        try:
            from collections_app.services.publish import register_gate
        except ImportError:  # the publish service is not there yet
            return
        from .gates import publish_gate

        register_gate(publish_gate)
