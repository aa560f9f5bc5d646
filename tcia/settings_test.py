"""Test settings: the normal settings with a fixed key, synchronous tasks and a temporary storage root."""
import os
import tempfile


def _own_temp_dir(prefix: str) -> str:
    """A new temporary folder, removed with everything in it when this process exits (tests and
    benches run thousands of files through it: left behind, they fill the disk)."""
    import atexit
    import shutil

    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production")
os.environ.setdefault("TCIA_Q_SYNC", "1")
if "TCIA_STORAGE_ROOT" not in os.environ:  # a folder of this process's own, removed when it exits
    os.environ["TCIA_STORAGE_ROOT"] = _own_temp_dir("tcia-test-storage-")

from .settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
STATIC_ROOT = _own_temp_dir("tcia-test-static-")
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# A file, not ":memory:", so threads (the DICOM receiver, live servers) see the same test database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(tempfile.mkdtemp(prefix="tcia-test-db-"), "test.sqlite3")}  # noqa: F405
# Lockout bookkeeping (every login resets its counter) is not news in a test run.
LOGGING["loggers"]["axes"] = {"level": "WARNING"}  # noqa: F405
