"""Where the archive, quarantine and derived storages live, read from the environment.

Each of `TCIA_ARCHIVE_STORAGE`, `TCIA_QUARANTINE_STORAGE` and `TCIA_DERIVED_STORAGE` is one of

* unset or empty: a folder under `TCIA_STORAGE_ROOT` (the embedded default);
* a local folder: `/srv/tcia/archive` or `file:///srv/tcia/archive`;
* an S3-compatible bucket, with an optional key prefix: `s3://bucket` or `s3://bucket/some/prefix`
  (AWS S3, MinIO, Ceph RGW, …; `django-storages`' S3 backend on boto3, see tcia/core/s3storage.py).

A bucket is reached with the usual variables: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
(or any other source in boto3's credential chain: ~/.aws, an instance or pod role),
`AWS_S3_ENDPOINT_URL` (MinIO / Ceph; unset for AWS), `AWS_S3_REGION_NAME` (or `AWS_DEFAULT_REGION`),
`AWS_S3_ADDRESSING_STYLE` (`path` or `virtual`; `path` by default when an endpoint is given),
`AWS_CA_BUNDLE` for a private certificate authority (read by botocore itself).

This module imports nothing from Django's apps: tcia/settings.py calls it.
"""
import os
from pathlib import Path
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

S3_BACKEND = "tcia.core.s3storage.S3Storage"
LOCAL_BACKEND = "django.core.files.storage.FileSystemStorage"


def s3_options(bucket: str, prefix: str, environ=os.environ) -> dict:
    """OPTIONS of an S3 storage for `bucket`/`prefix` from the AWS_* variables."""
    endpoint = environ.get("AWS_S3_ENDPOINT_URL", "").strip() or None
    region = (environ.get("AWS_S3_REGION_NAME") or environ.get("AWS_DEFAULT_REGION") or environ.get("AWS_REGION") or "").strip()
    style = environ.get("AWS_S3_ADDRESSING_STYLE", "").strip() or ("path" if endpoint else None)
    if style not in (None, "path", "virtual", "auto"):
        raise ImproperlyConfigured(f"AWS_S3_ADDRESSING_STYLE must be path, virtual or auto, not {style!r}.")
    return {
        "bucket_name": bucket,
        "location": prefix,
        "endpoint_url": endpoint,
        "region_name": region or None,
        "addressing_style": style,
        "signature_version": "s3v4",
        "file_overwrite": True,  # names are content addresses or random: the same name is the same bytes
        "default_acl": None,  # private objects; the bucket's policy decides, never a public ACL
        "querystring_auth": True,
        "querystring_expire": int(environ.get("TCIA_S3_URL_EXPIRE", "300")),
    }


def storage_backend(value: str, *, variable: str, default_folder: Path, environ=os.environ) -> dict:
    """One STORAGES entry from a TCIA_*_STORAGE value (see the module docstring)."""
    value = (value or "").strip()
    if not value:
        return {"BACKEND": LOCAL_BACKEND, "OPTIONS": {"location": default_folder}}
    parsed = urlparse(value)
    if parsed.scheme == "s3":
        bucket = parsed.netloc
        if not bucket or parsed.query or parsed.params or parsed.fragment:
            raise ImproperlyConfigured(f"{variable}={value!r}: expected s3://bucket or s3://bucket/prefix.")
        prefix = parsed.path.strip("/")
        if ".." in prefix.split("/"):
            raise ImproperlyConfigured(f"{variable}={value!r}: the prefix may not contain '..'.")
        return {"BACKEND": S3_BACKEND, "OPTIONS": s3_options(bucket, prefix, environ)}
    if parsed.scheme == "file":
        return {"BACKEND": LOCAL_BACKEND, "OPTIONS": {"location": Path(parsed.path)}}
    if parsed.scheme == "" and value.startswith("/"):
        return {"BACKEND": LOCAL_BACKEND, "OPTIONS": {"location": Path(value)}}
    raise ImproperlyConfigured(
        f"{variable}={value!r}: expected an absolute folder, file:///folder or s3://bucket[/prefix]."
    )
