from django.apps import AppConfig


class ReviewConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "curation.review"
    label = "review"
    verbose_name = "Visual review"

    def ready(self):
        from curation.hooks import register_batch_end_hook, register_ingest_hook

        from .hooks import on_batch_end, on_ingest, on_ingest_many

        register_ingest_hook(on_ingest, many=on_ingest_many)
        register_batch_end_hook(on_batch_end)
        from curation.cockpit import register_events, register_step

        from .cockpit import review_events, review_step

        register_step(60, review_step)
        register_events(review_events)
        try:
            from collections_app.services.publish import register_gate
        except ImportError:  # the publish service is not there yet
            return
        from .gates import publish_gate

        register_gate(publish_gate)
