from django.apps import AppConfig


def publication_gate(collection):
    from collections_app.services.publish import GateFailure

    from .gates import gate

    return [GateFailure(message, url) for message, url in gate(collection)]


class PhiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "curation.phi"
    label = "phi"
    verbose_name = "PHI report"

    def ready(self):
        from curation.hooks import register_batch_end_hook, register_ingest_hook

        from .report import on_batch_end, on_ingest, on_ingest_many

        register_ingest_hook(on_ingest, many=on_ingest_many)
        register_batch_end_hook(on_batch_end)
        try:
            from collections_app.services.publish import register_gate
        except ImportError:  # the publish service is optional for this app
            return
        register_gate(publication_gate)
