"""Test settings: the normal settings with a fixed key, synchronous tasks and a temporary storage root."""
import os
import tempfile

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production")
os.environ.setdefault("TCIA_Q_SYNC", "1")
os.environ.setdefault("TCIA_STORAGE_ROOT", tempfile.mkdtemp(prefix="tcia-test-storage-"))

from .settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
STATIC_ROOT = tempfile.mkdtemp(prefix="tcia-test-static-")
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# A file, not ":memory:", so threads (the DICOM receiver, live servers) see the same test database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(tempfile.mkdtemp(prefix="tcia-test-db-"), "test.sqlite3")}  # noqa: F405
# Lockout bookkeeping (every login resets its counter) is not news in a test run.
LOGGING["loggers"]["axes"] = {"level": "WARNING"}  # noqa: F405
