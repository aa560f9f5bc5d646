from django.apps import AppConfig


def publication_gate(collection):
    from collections_app.services.publish import GateFailure

    from .gates import gate

    return [GateFailure(message, url) for message, url in gate(collection)]


def selfscore_gate(collection):
    """The de-identification self-score is at least settings.TCIA_DEID_MIN_SCORE."""
    from collections_app.services.publish import GateFailure

    from .selfscore import gate

    return [GateFailure(message, url) for message, url in gate(collection)]


class PhiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "curation.phi"
    label = "phi"
    verbose_name = "PHI report"

    def ready(self):
        from curation.hooks import register_batch_end_hook, register_ingest_hook, register_original_observer

        from . import selfscore
        from .report import on_batch_end, on_ingest, on_ingest_many

        register_ingest_hook(on_ingest, many=on_ingest_many)
        register_batch_end_hook(on_batch_end)
        register_original_observer(selfscore.observe)
        register_ingest_hook(selfscore.on_ingest, many=selfscore.on_ingest_many)
        from curation.cockpit import register_events, register_step

        from .cockpit import phi_events, phi_step, selfscore_step

        register_step(70, phi_step)
        register_step(80, selfscore_step)
        register_events(phi_events)
        try:
            from collections_app.services.publish import register_gate
        except ImportError:  # the publish service is optional for this app
            return
        register_gate(publication_gate)
        register_gate(selfscore_gate)
