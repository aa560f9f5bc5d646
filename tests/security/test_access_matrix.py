"""The access matrix, generated from the URL conf: every URL pattern × every role, on real public,
limited and hidden objects (tests/security/access_matrix.py holds the expectations).

Two promises are checked for each response: the status the table gives, and that nothing the
role may not read is in the body — the subject IDs and UIDs of the hidden and incoming
collections for everyone but staff, and those of the limited collection for everyone who has
not accepted its agreement.
"""
import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.security.access_matrix import ADMIN_NON_STAFF, ADMIN_PREFIX, EXPECT
from tests.security.world import ROLES, build_world

STAFF_ROLES = {"curator", "admin"}


def url_patterns(patterns=None, prefix="", namespace=""):
    """(name with namespaces or None, route) of every pattern in the URL conf."""
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from url_patterns(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield (f"{namespace}{p.name}" if p.name else None), prefix + str(p.pattern)


def _is_admin(name, route) -> bool:
    return (name or "").startswith(ADMIN_PREFIX) or route.startswith("admin/")


def test_every_url_pattern_has_an_entry():
    missing, unnamed, seen = [], [], set()
    for name, route in url_patterns():
        if _is_admin(name, route):
            continue
        if name is None:
            unnamed.append(route)
        elif name not in EXPECT:
            missing.append(f"{name} ({route})")
        seen.add(name)
    assert not unnamed, f"URL patterns without a name cannot be listed in the access matrix: {unnamed}"
    assert not missing, "URL patterns without an entry in tests/security/access_matrix.py EXPECT: " + ", ".join(missing)
    stale = sorted(set(EXPECT) - seen)
    assert not stale, f"EXPECT entries for URL names that no longer exist: {stale}"
    for name, probes in EXPECT.items():
        assert probes, f"{name} has no probe"
        for probe in probes:
            probe.codes()


def _clients(world):
    clients = {}
    for role in ROLES:
        client = Client()
        if world.users[role] is not None:
            client.force_login(world.users[role])
        clients[role] = client
    return clients


def _body(response) -> str:
    if getattr(response, "streaming", False):
        data = b"".join(response.streaming_content)
    else:
        data = response.content
    return data.decode("utf-8", errors="replace")


def _forbidden_markers(world, role) -> set[str]:
    if role in STAFF_ROLES:
        return set()
    markers = world.hidden.markers | world.incoming.markers
    if role != "agreed":
        markers |= world.limited.markers
    return markers


@pytest.fixture(autouse=True)
def viewer_page(tmp_path, settings):
    """The viewer's page as `make ohif` leaves it, so /viewer/ answers whether or not it is installed."""
    from tests.dicomweb.conftest import install_fake_viewer

    settings.TCIA_OHIF_ROOT = install_fake_viewer(tmp_path / "ohif")


@pytest.mark.django_db
def test_access_matrix():
    world = build_world()
    clients = _clients(world)
    wrong, leaks, probed = [], [], 0
    for name, probes in EXPECT.items():
        for probe in probes:
            url = reverse(name, kwargs=probe.kwargs(world))
            query = probe.query(world)
            for role, expected in probe.codes().items():
                response = getattr(clients[role], probe.method)(url, query)
                probed += 1
                if response.status_code != expected:
                    wrong.append(f"{name} [{probe.label}] as {role}: {response.status_code}, expected {expected}  ({url})")
                body = _body(response)
                # A UID the client sent may come back in the refusal ("not granted: <uid>").
                asked = url + " " + " ".join(str(v) for v in query.values())
                found = sorted(m for m in _forbidden_markers(world, role) if m in body and m not in asked)
                if found:
                    leaks.append(f"{name} [{probe.label}] as {role}: shows {found[:3]}  ({url})")
    assert probed > 6 * len(EXPECT)
    assert not leaks, "Data shown to a role that may not read it:\n" + "\n".join(leaks)
    assert not wrong, f"{len(wrong)} of {probed} answers differ from the access matrix:\n" + "\n".join(wrong)


def _admin_urls():
    """Every named admin page that takes no argument but the object id (filled with a real pk)."""
    from django.apps import apps

    urls = []
    for name, route in url_patterns():
        if not (name or "").startswith(ADMIN_PREFIX):
            continue
        short = name[len(ADMIN_PREFIX):]
        if short in {"login", "logout", "view_on_site"}:
            continue
        if "<path:object_id>" in route:
            app_label, model_name = route.split("/")[1:3]
            model = apps.get_model(app_label, model_name)
            obj = model._default_manager.order_by("pk").first()
            if obj is None:
                continue
            urls.append(reverse(name, args=[obj.pk]))
        elif "<" not in route and "(?P" not in route:
            urls.append(reverse(name))
        elif short == "app_list":
            urls.append(reverse(name, kwargs={"app_label": "collections_app"}))
    return urls


@pytest.mark.django_db
def test_admin_pages_are_for_staff_only():
    world = build_world()
    clients = _clients(world)
    urls = _admin_urls()
    assert len(urls) > 60  # changelists, add and change pages of every registered model
    wrong = []
    for url in urls:
        for role in ("anonymous", "submitter", "committee", "agreed"):
            response = clients[role].get(url)
            if response.status_code != ADMIN_NON_STAFF or "/admin/login/" not in response.get("Location", ""):
                wrong.append(f"{url} as {role}: {response.status_code}")
        response = clients["admin"].get(url)
        if response.status_code >= 500 or "/admin/login/" in response.get("Location", ""):
            wrong.append(f"{url} as admin: {response.status_code}")
    assert not wrong, "\n".join(wrong)
