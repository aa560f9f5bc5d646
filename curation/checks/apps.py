from django.apps import AppConfig


def on_ingest(*, submission=None, image, elements, replaced_file=None, dataset=None, **_):
    """Ingest hook: keep the file's facts for the checks and mark the collection's findings stale
    (two statements; with the parsed dataset, uncompressed pixels are hashed from its bytes)."""
    from .facts import record_facts
    from .services import mark_stale

    record_facts(image=image, elements=elements, dataset=dataset)
    collection_id = submission.collection_id if submission is not None else image.series.collection_id
    mark_stale(collection_id, "a correction rewrote files" if replaced_file is not None else "new files arrived")


def on_ingest_many(*, submission, entries):
    """The same for a chunk of new files: one upsert of their facts, one mark."""
    from .facts import record_facts_many
    from .services import mark_stale

    record_facts_many([(e.image.stored_file_id, e.elements, e.dataset) for e in entries])
    mark_stale(submission.collection_id, "new files arrived")


def publication_gate(collection):
    from collections_app.services.publish import GateFailure

    from .gates import gate

    return [GateFailure(message, url) for message, url in gate(collection)]


class ChecksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "curation.checks"
    label = "checks"
    verbose_name = "Curation checks"

    def ready(self):
        from curation.hooks import register_ingest_hook

        register_ingest_hook(on_ingest, many=on_ingest_many)
        from curation.cockpit import register_events, register_step

        from .cockpit import checks_events, checks_step

        register_step(40, checks_step)
        register_events(checks_events)
        try:
            from collections_app.services.publish import register_gate
        except ImportError:  # the publish service is optional for this app
            return
        register_gate(publication_gate)
