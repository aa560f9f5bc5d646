import pytest
from django.urls import reverse

from collections_app.models import WikiRevision
from tcia.core.models import AuditEvent

from .factories import CollectionFactory

pytestmark = pytest.mark.django_db


def edit(client, collection, body, comment="", title="Overview"):
    return client.post(
        reverse("page_edit", args=[collection.slug, "overview"]),
        {"title": title, "body": body, "comment": comment, "save": "1"},
    )


def test_each_save_is_a_revision_with_author_time_and_comment(curator_client, curator):
    collection = CollectionFactory()
    assert edit(curator_client, collection, "First text", "first").status_code == 302
    assert edit(curator_client, collection, "Second text", "second").status_code == 302
    revisions = list(WikiRevision.objects.filter(page__collection=collection).order_by("number"))
    assert [r.number for r in revisions] == [1, 2]
    assert [r.comment for r in revisions] == ["first", "second"]
    assert all(r.author == curator and r.created_at for r in revisions)
    page = curator_client.get(collection.get_absolute_url()).content.decode()
    assert "Second text" in page and "First text" not in page
    history = curator_client.get(reverse("page_history", args=[collection.slug, "overview"])).content.decode()
    assert "first" in history and "second" in history and curator.username in history
    assert AuditEvent.objects.filter(action="wiki.revise").count() == 2


def test_diff_between_any_two_revisions(curator_client):
    collection = CollectionFactory()
    for body in ["alpha\nbeta\n", "alpha\ngamma\n", "alpha\ngamma\ndelta\n"]:
        edit(curator_client, collection, body)
    response = curator_client.get(reverse("page_diff", args=[collection.slug, "overview"]), {"a": 1, "b": 3})
    text = response.content.decode()
    assert response.status_code == 200
    assert "<del>- beta</del>" in text
    assert "<ins>+ gamma</ins>" in text and "<ins>+ delta</ins>" in text
    # order of a and b does not matter
    swapped = curator_client.get(reverse("page_diff", args=[collection.slug, "overview"]), {"a": 3, "b": 1})
    assert "<del>- beta</del>" in swapped.content.decode()


def test_revert_adds_a_revision_with_the_old_text(curator_client):
    collection = CollectionFactory()
    edit(curator_client, collection, "good text")
    edit(curator_client, collection, "vandalised")
    response = curator_client.post(reverse("page_revert", args=[collection.slug, "overview", 1]))
    assert response.status_code == 302
    page = collection.pages.get(slug="overview")
    assert page.current.number == 3
    assert page.current.body == "good text"
    assert page.current.reverted_from.number == 1
    assert page.revisions.count() == 3  # nothing was deleted
    assert "good text" in curator_client.get(collection.get_absolute_url()).content.decode()
    assert AuditEvent.objects.filter(action="wiki.revert").exists()


def test_stored_html_is_sanitized_when_shown(curator_client):
    collection = CollectionFactory()
    edit(curator_client, collection, 'Hi <script>alert("x")</script> <a href="javascript:alert(1)">y</a>')
    html = curator_client.get(collection.get_absolute_url()).content.decode()
    assert "<script>alert" not in html
    assert "javascript:alert" not in html


def test_curator_can_add_a_second_page(curator_client):
    collection = CollectionFactory()
    response = curator_client.post(reverse("page_new", args=[collection.slug]), {"slug": "data-access", "title": "Data access"})
    assert response.status_code == 302
    edit_url = reverse("page_edit", args=[collection.slug, "data-access"])
    curator_client.post(edit_url, {"title": "Data access", "body": "How to get it", "save": "1"})
    page = curator_client.get(reverse("page_detail", args=[collection.slug, "data-access"]))
    assert "How to get it" in page.content.decode()


def test_preview_does_not_save(curator_client):
    collection = CollectionFactory()
    response = curator_client.post(
        reverse("page_edit", args=[collection.slug, "overview"]), {"title": "Overview", "body": "**draft**", "preview": "1"}
    )
    assert "<strong>draft</strong>" in response.content.decode()
    assert not WikiRevision.objects.filter(page__collection=collection).exists()
