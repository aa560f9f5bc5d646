"""Shared fixtures: one user per role, and clients logged in as them."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from tcia.core import roles


@pytest.fixture(scope="session", autouse=True)
def _object_storage_session():
    """TCIA_TEST_S3_ENDPOINT set (.ci/run's object-storage step): every storage of the session in
    one fresh bucket of that server, for this process and the portals it starts (tests/s3.py)."""
    from tests import s3

    url = s3.configured_endpoint()
    if not url:
        yield None
        return
    import os

    from django.conf import settings
    from django.test import override_settings

    bucket = s3.new_bucket(url)
    os.environ.update(s3.environment(url, bucket))
    override = override_settings(STORAGES=s3.storages_setting(settings.STORAGES, url, bucket))
    override.enable()
    yield bucket
    override.disable()


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


# --- Skips: in CI (TCIA_STRICT_SKIPS=1) a skip not listed in tests/skips.py fails the run. ---
_skips = []


def pytest_runtest_logreport(report):
    if report.skipped:
        from tests.skips import Skip, reason_of

        _skips.append(Skip(report.nodeid, reason_of(report)))


def pytest_sessionfinish(session, exitstatus):
    from tests import skips

    if not skips.strict() or not _skips:
        return
    bad = skips.unexpected(_skips, skips.database_leg())
    if bad:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"{len(bad)} test(s) skipped that must run on this machine (TCIA_STRICT_SKIPS=1; "
                 "the allowed skips are listed in tests/skips.py):"]
        lines += [f"  {s.nodeid}: {s.reason}" for s in bad]
        if tr:
            tr.write_line("\n".join(lines), red=True)
        session.exitstatus = 1
