"""`manage.py check --deploy` is clean under the production environment README documents, and
that environment is what turns HTTPS-only, HSTS and secure cookies on."""
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "archive.example.org",
    "DJANGO_HTTPS": "1",
    "DJANGO_BEHIND_PROXY": "1",
    "TCIA_TRUSTED_PROXIES": "10.0.0.5",
}


def check_deploy(tmp_path, extra: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TCIA_"))}
    env.update({"DJANGO_SETTINGS_MODULE": "tcia.settings", "TCIA_VAR_DIR": str(tmp_path), **extra})
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_the_production_environment(tmp_path):
    result = check_deploy(tmp_path, PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing, warnings", [
    ("DJANGO_HTTPS", {"security.W004", "security.W008", "security.W012", "security.W016"}),
])
def test_without_https_the_check_warns(tmp_path, missing, warnings):
    result = check_deploy(tmp_path, {k: v for k, v in PRODUCTION.items() if k != missing})
    assert result.returncode != 0
    shown = result.stdout + result.stderr
    assert [w for w in sorted(warnings) if w not in shown] == []


def test_production_settings_values(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TCIA_"))}
    env.update({"DJANGO_SETTINGS_MODULE": "tcia.settings", "TCIA_VAR_DIR": str(tmp_path), **PRODUCTION})
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
            "s.SECURE_PROXY_SSL_HEADER, s.X_FRAME_OPTIONS, s.SECURE_REFERRER_POLICY, s.TCIA_TRUSTED_PROXIES, s.DEBUG)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["True", "True", "True", "31536000", "('HTTP_X_FORWARDED_PROTO',", "'https')", "DENY",
                                  "same-origin", "['10.0.0.5']", "False"], out.stderr
