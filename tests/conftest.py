"""Shared fixtures: one user per role, and clients logged in as them."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from tcia.core import roles


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    """Throttle counters live in the cache: each test starts with a full request budget."""
    from django.core.cache import cache

    cache.clear()
    yield


def make_user(username: str, *role_names: str, **extra):
    user = get_user_model().objects.create_user(username=username, password="pw-" + username, **extra)
    for role in role_names:
        group, _ = Group.objects.get_or_create(name=role)
        user.groups.add(group)
    return user


@pytest.fixture
def curator(db):
    return make_user("cur", roles.CURATOR, is_staff=True)


@pytest.fixture
def committee_member(db):
    return make_user("com", roles.COMMITTEE)


@pytest.fixture
def submitter(db):
    return make_user("sub", roles.SUBMITTER)


@pytest.fixture
def plain_user(db):
    return make_user("plain")


@pytest.fixture
def curator_client(client, curator):
    client.force_login(curator)
    return client
