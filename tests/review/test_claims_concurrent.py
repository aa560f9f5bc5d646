"""Two curators asking for work at the same moment never get the same image class.

Each thread has its own database connection. On PostgreSQL candidates are read with
SELECT … FOR UPDATE SKIP LOCKED; on every database the conditional UPDATE in
services.claim_next is what makes a claim exclusive, so the test runs on both."""
import threading

import pytest
from django.db import connection, connections

from collections_app.models import Collection, Series, Status, Study, Subject
from curation.review import services
from curation.review.models import ImageClass
from tests.conftest import make_user


def _collection(n_series):
    c = Collection.objects.create(slug="claims", title="Claims", short_name="claims", subject_prefix="CLM",
                                  status=Status.DRAFT)
    subject = Subject.objects.create(collection=c, patient_id="CLM-0001")
    study = Study.objects.create(collection=c, subject=subject, study_instance_uid="1.2.3.4")
    for i in range(n_series):
        series = Series.objects.create(collection=c, subject=subject, study=study, series_instance_uid=f"1.2.3.4.{i}",
                                       modality="CT", image_count=10, series_number=str(i))
        ImageClass.objects.create(series=series, collection=c, key=f"k{i}", geometry="line", image_count=10)
    services.ensure_reviews(c)
    return c


def _race(users, collection, rounds):
    barrier = threading.Barrier(len(users))
    got = {u.username: [] for u in users}
    errors = []

    def work(user):
        try:
            barrier.wait(timeout=20)
            for _ in range(rounds):
                # a curator who finished a series asks for the next one: release first
                review = services.claim_next(user=user, collection=collection)
                if review is None:
                    break
                got[user.username].append(review.pk)
                ImageClass.objects.filter(pk=review.pk).update(reviewed=10)  # done with it
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return got


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("run", range(3))
def test_two_curators_never_get_the_same_class(run):
    collection = _collection(12)
    users = [make_user(f"racer{run}a", "curator"), make_user(f"racer{run}b", "curator")]
    got = _race(users, collection, rounds=20)
    a, b = got[users[0].username], got[users[1].username]
    assert not set(a) & set(b), f"both curators claimed {set(a) & set(b)} ({connection.vendor})"
    assert len(a) == len(set(a)) and len(b) == len(set(b))
    assert sorted(a + b) == sorted(ImageClass.objects.filter(collection=collection).values_list("pk", flat=True))  # all handed out


@pytest.mark.django_db(transaction=True)
def test_one_free_class_goes_to_exactly_one_of_two_curators():
    collection = _collection(1)
    users = [make_user("solo-a", "curator"), make_user("solo-b", "curator")]
    barrier = threading.Barrier(2)
    results = {}

    def work(user):
        try:
            barrier.wait(timeout=20)
            results[user.username] = services.claim_next(user=user, collection=collection)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [r for r in results.values() if r is not None]
    assert len(results) == 2 and len(winners) == 1
    assert ImageClass.objects.get().claimed_by.username == winners[0].claimed_by.username
