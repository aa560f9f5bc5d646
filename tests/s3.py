"""Object storage for tests: an S3 server, a bucket, STORAGES that point at it, and helpers that
reach stored bytes behind the portal's back (to damage or remove them) on a folder or a bucket.

`TCIA_TEST_S3_ENDPOINT=http://127.0.0.1:PORT` (what .ci/run sets, with moto's standalone server
running there) puts the archive, quarantine and derived storages of the whole test session in a
bucket of that server (tests/conftest.py). Without it, tests/storage/ starts moto's server in
this process on a free port and uses it for its own tests only; every other test stays on folders.
"""
import atexit
import os
import secrets
import socket
import subprocess
import sys
import time

import boto3
from botocore.config import Config

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
KINDS = ("archive", "quarantine", "derived")
_server = None
_url = ""


def configured_endpoint() -> str:
    return os.environ.get("TCIA_TEST_S3_ENDPOINT", "").strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int | None = None) -> tuple[subprocess.Popen, str]:
    """moto's standalone S3 server (`moto_server`) as a process of its own on 127.0.0.1."""
    port = port or free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto's S3 server did not start")


def endpoint() -> str:
    """The configured S3 endpoint, or a moto server started for this test session."""
    global _server, _url
    url = configured_endpoint()
    if url:
        return url
    if _server is None:
        _server, _url = start_server()
        atexit.register(_server.kill)
    return _url


def use_credentials() -> None:
    """moto accepts any keys; real ones in the environment must never reach a test server."""
    for key, value in CREDENTIALS.items():
        os.environ[key] = value


def client(url: str | None = None):
    use_credentials()
    return boto3.client("s3", endpoint_url=url or endpoint(), region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}))


def new_bucket(url: str | None = None, *, versioned: bool = False) -> str:
    name = f"tcia-test-{secrets.token_hex(6)}"
    c = client(url)
    c.create_bucket(Bucket=name)
    if versioned:
        c.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def environment(url: str, bucket: str) -> dict[str, str]:
    """The variables that put the three storages in `bucket` (for settings and subprocesses)."""
    env = {f"TCIA_{kind.upper()}_STORAGE": f"s3://{bucket}/{kind}" for kind in KINDS}
    env.update(CREDENTIALS, AWS_S3_ENDPOINT_URL=url)
    return env


def storages_setting(base: dict, url: str, bucket: str) -> dict:
    """`base` (settings.STORAGES) with the archive, quarantine and derived storages in `bucket`."""
    from tcia.storage_config import storage_backend

    env = environment(url, bucket)
    out = dict(base)
    for kind in KINDS:
        var = f"TCIA_{kind.upper()}_STORAGE"
        out[kind] = storage_backend(env[var], variable=var, default_folder=None, environ=env)
    return out


# Behind the portal's back ----------------------------------------------------------------------


def _where(kind: str, name: str):
    """(client, bucket, key) when storage `kind` is a bucket, else (None, None, local path)."""
    from django.core.files.storage import storages

    storage = storages[kind]
    if hasattr(storage, "bucket_name"):
        return storage.client, storage.bucket_name, storage._key(name)
    return None, None, storage.path(name)


def read_stored(name: str, kind: str = "archive") -> bytes:
    c, bucket, key = _where(kind, name)
    if c is None:
        with open(key, "rb") as fh:
            return fh.read()
    return c.get_object(Bucket=bucket, Key=key)["Body"].read()


def overwrite_stored(name: str, data: bytes, kind: str = "archive") -> None:
    c, bucket, key = _where(kind, name)
    if c is None:
        with open(key, "wb") as fh:
            fh.write(data)
    else:
        c.put_object(Bucket=bucket, Key=key, Body=data)


def remove_stored(name: str, kind: str = "archive") -> None:
    c, bucket, key = _where(kind, name)
    if c is None:
        os.remove(key)
    else:
        c.delete_object(Bucket=bucket, Key=key)


def module_bucket(session_bucket):
    """For a bucket fixture: the session's bucket when the whole run is on S3 (`session_bucket`,
    conftest's _object_storage_session), else a new bucket with every storage in it while the
    generator is suspended."""
    if session_bucket:
        yield session_bucket
        return
    from django.conf import settings
    from django.test import override_settings

    url = endpoint()
    name = new_bucket(url)
    with override_settings(STORAGES=storages_setting(settings.STORAGES, url, name)):
        yield name
