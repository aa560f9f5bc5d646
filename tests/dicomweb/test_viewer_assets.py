"""The OHIF viewer's assets and the portal's static files, as WhiteNoise serves them
(dicomweb.assets): hashed names are cached for ever — under /static/ exactly the names Django's
manifest storage hashed, under /viewer/ OHIF's content-hashed bundles — and the viewer's scripts
carry the policy its web workers need while every other response keeps the portal's CSP."""
import re

import pytest
from django.core.management import call_command
from django.test import Client

from dicomweb import viewer

FOREVER = "immutable"


@pytest.fixture
def served(tmp_path, settings):
    """A collected, manifest-hashed /static/ and a small /viewer/ tree, then a fresh client (WhiteNoise
    indexes its files when the middleware is made)."""
    static_root = tmp_path / "static"
    settings.STATIC_ROOT = static_root
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"}}
    call_command("collectstatic", interactive=False, verbosity=0)
    public = tmp_path / "ohif" / "public"
    (public / "viewer").mkdir(parents=True)
    (public / "viewer" / "8097.bundle.8ae6404ba94890a0.js").write_text("self.onmessage = () => {};")
    (public / "viewer" / "app-config.js").write_text("window.config = {};")
    (public / "viewer" / "3760.css").write_text("body { margin: 0 }")
    settings.WHITENOISE_ROOT = public
    return Client(), static_root


def _policy(response):
    return response.get("Content-Security-Policy", "")


def test_hashed_static_files_are_immutable_and_others_are_not(served):
    client, static_root = served
    import json

    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    original, hashed = next((o, h) for o, h in sorted(manifest.items()) if o.endswith(".css"))
    assert re.search(r"\.[0-9a-f]{12}\.css$", hashed)
    cached = client.get(f"/static/{hashed}")
    assert cached.status_code == 200 and FOREVER in cached["Cache-Control"]
    plain = client.get(f"/static/{original}")
    assert plain.status_code == 200 and FOREVER not in plain["Cache-Control"]
    # The portal's policy, as on every page.
    assert "script-src 'self'" in _policy(cached) and "unsafe-eval" not in _policy(cached)


@pytest.mark.django_db
def test_viewer_scripts_carry_the_worker_policy_and_nothing_else_does(served):
    client, _ = served
    bundle = client.get("/viewer/8097.bundle.8ae6404ba94890a0.js")
    assert bundle.status_code == 200 and FOREVER in bundle["Cache-Control"]
    assert _policy(bundle) == viewer.WORKER_POLICY
    config = client.get("/viewer/app-config.js")
    assert FOREVER not in config["Cache-Control"] and _policy(config) == viewer.WORKER_POLICY
    # A stylesheet (or any non-script file) under /viewer/ keeps the portal's policy from django-csp.
    css = client.get("/viewer/3760.css")
    assert css.status_code == 200 and FOREVER not in css["Cache-Control"]
    assert "unsafe-eval" not in _policy(css) and "frame-ancestors 'none'" in _policy(css)
    # And the pages around it are untouched.
    for url in ("/", "/dicomweb/studies", "/nbia-download/servlet/DownloadServletVersion"):
        policy = _policy(client.get(url))
        assert "default-src 'self'" in policy and "unsafe-eval" not in policy, url
