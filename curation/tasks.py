"""django-q2 tasks of the curation app. They take primary keys and are safe to run twice."""


def process_batch(batch_id: int):
    from .services.intake import process_staged_batch

    batch = process_staged_batch(batch_id)
    return {"batch": batch.pk, "accepted": batch.accepted, "rejected": batch.rejected}
