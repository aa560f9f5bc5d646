import pytest
from django.urls import reverse

from collections_app.models import Status, WikiRevision
from collections_app.services import wiki

from .factories import CollectionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("status", [Status.DRAFT, Status.IN_CURATION])
@pytest.mark.parametrize("who", ["anonymous", "plain_user", "submitter", "committee_member"])
def test_unpublished_collections_are_404_for_non_staff(client, request, status, who):
    collection = CollectionFactory(status=status)
    wiki.save_revision(page=wiki.ensure_page(collection), body="hidden", author=None)
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    for url in (
        collection.get_absolute_url(),
        reverse("page_history", args=[collection.slug, "overview"]),
        reverse("page_revision", args=[collection.slug, "overview", 1]),
        reverse("page_diff", args=[collection.slug, "overview"]) + "?a=1&b=1",
    ):
        assert client.get(url).status_code == 404, url


@pytest.mark.parametrize("status", [Status.DRAFT, Status.IN_CURATION, Status.PUBLISHED])
def test_curators_see_every_status(curator_client, status):
    collection = CollectionFactory(status=status)
    assert curator_client.get(collection.get_absolute_url()).status_code == 200


def test_anonymous_cannot_edit_or_revert(client):
    collection = CollectionFactory()
    page = wiki.ensure_page(collection)
    wiki.save_revision(page=page, body="original", author=None)
    edit_url = reverse("page_edit", args=[collection.slug, "overview"])
    assert client.get(edit_url).status_code == 302  # to the login page
    response = client.post(edit_url, {"title": "x", "body": "defaced", "save": "1"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    response = client.post(reverse("page_revert", args=[collection.slug, "overview", 1]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert WikiRevision.objects.filter(page=page).count() == 1
    assert "Edit" not in client.get(collection.get_absolute_url()).content.decode().split("History")[1][:40]


@pytest.mark.parametrize("who", ["plain_user", "submitter", "committee_member"])
def test_logged_in_non_curators_cannot_edit(client, request, who):
    collection = CollectionFactory()
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse("page_edit", args=[collection.slug, "overview"])).status_code == 404
    response = client.post(reverse("page_edit", args=[collection.slug, "overview"]), {"title": "x", "body": "y", "save": "1"})
    assert response.status_code == 404
    assert client.post(reverse("page_new", args=[collection.slug]), {"slug": "x", "title": "x"}).status_code == 404
    assert not WikiRevision.objects.filter(page__collection=collection).exists()


def test_staff_links_on_the_collection_page_only_for_curators(client, curator):
    collection = CollectionFactory()
    assert "/publish/" not in client.get(collection.get_absolute_url()).content.decode()
    client.force_login(curator)
    assert "/publish/" in client.get(collection.get_absolute_url()).content.decode()
