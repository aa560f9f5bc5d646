"""Every view that follows `next` stays on this site: other hosts, scheme-relative URLs and
javascript: fall back to the view's own page."""
import pytest
from django.urls import reverse

from tests.security.world import build_world

pytestmark = pytest.mark.django_db

EVIL = ["https://evil.example/", "//evil.example/x", "/\\evil.example", "https:evil.example", "javascript:alert(1)",
        " //evil.example"]


@pytest.fixture(scope="function")
def world():
    return build_world()


def _posts(world):
    """(who, url, form data, where it must land when next is refused)."""
    from curation.review.models import ImageClass

    limited, incoming = world.limited.collection, world.incoming.collection
    image_class = ImageClass.objects.filter(series=world.incoming.series).first()  # made by intake
    return [
        ("agreed", reverse("data_agreement", args=[limited.slug]), {"accept": "yes"},
         reverse("data_series", args=[limited.slug])),
        ("anonymous", reverse("data_cart"), {"action": "clear"}, reverse("data_cart")),
        ("curator", reverse("curation:checks:bulk", args=[incoming.slug]), {"action": "waive", "reason": "ok"},
         reverse("curation:checks:findings", args=[incoming.slug])),
        ("curator", reverse("curation:phi:mark", args=[incoming.slug]), {"action": "keep"},
         reverse("curation:phi:report", args=[incoming.slug])),
        ("curator", reverse("curation:review:assign", args=[image_class.pk]), {"assignee": ""},
         reverse("curation:review:collection", args=[incoming.slug])),
    ]


def _client(client, world, who):
    if world.users[who] is not None:
        client.force_login(world.users[who])
    return client


@pytest.mark.parametrize("evil", EVIL)
def test_next_to_another_site_is_refused(client, world, evil):
    for who, url, data, fallback in _posts(world):
        response = _client(client, world, who).post(url, {**data, "next": evil})
        assert response.status_code == 302, (url, response.status_code)
        assert response["Location"] == fallback, (url, evil, response["Location"])


def test_next_on_this_site_is_followed(client, world):
    for who, url, data, _ in _posts(world):
        response = _client(client, world, who).post(url, {**data, "next": "/collections/?page=2"})
        assert response["Location"] == "/collections/?page=2", url


def test_agreement_form_does_not_carry_a_foreign_next(client, world):
    slug = world.limited.slug
    page = _client(client, world, "agreed").get(reverse("data_agreement", args=[slug]), {"next": "https://evil.example/"})
    assert "evil.example" not in page.content.decode()


def test_login_next_stays_safe(client, world):
    response = client.post(reverse("login") + "?next=https://evil.example/",
                           {"username": "submitter", "password": "submitter-demo", "next": "https://evil.example/"})
    assert response.status_code == 302 and "evil.example" not in response["Location"]
