"""django-q2 tasks of the curation app. They take primary keys and are safe to run twice."""


def process_batch(batch_id: int):
    from .services.staging import process_batch as run

    batch = run(batch_id)
    return {"batch": batch.pk, "state": batch.state, "accepted": batch.accepted, "rejected": batch.rejected,
            "failed": batch.failed}


def resume_stalled_batches():
    """Scheduled every minute and run when a worker starts: batches whose worker died go on."""
    from .services.staging import resume_stalled

    return {"queued": resume_stalled()}
