"""The S3 storage backend: `django-storages`' S3Storage (boto3), reading without staging.

django-storages' own S3File downloads a whole object into a SpooledTemporaryFile (in memory by
default) on the first read. Archive files can be a gigabyte and downloads stream many of them,
so files opened for reading here are instead a seekable reader over ranged GETs:

* `open()` sends one GET at once, so a missing object is a FileNotFoundError at open (as on a
  folder) and its size is known; sequential reads consume that response's body;
* `seek()` only moves the position: a read after it continues the open body when the position
  is where the body is (or at most READ_AHEAD bytes ahead: those are read and dropped), and
  otherwise sends a new GET with `Range: bytes=<pos>-[<end>]`;
* `open_stream(name, size=, start=, end=)` sends nothing until the first read and then asks for
  exactly the bytes wanted (downloads with HTTP Range, DICOM frames).

Writes go through django-storages (`upload_fileobj`: one PUT, multipart above 8 MiB); a PUT that
returned is durable. `save_once` is the content-addressed write: a conditional PUT
(`If-None-Match: *`), so of two writers of the same name exactly one writes and a versioned
bucket never holds two versions of one file.
"""
import io
import logging
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError
from django.core.files.base import File
from storages.backends.s3 import S3Storage as BaseS3Storage
from storages.utils import clean_name

logger = logging.getLogger(__name__)

BUFFER = 256 * 1024
READ_AHEAD = 1024 * 1024
HEAD_THREADS = 8  # below botocore's default pool of 10 connections


def _status(err: ClientError) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _missing(err: ClientError) -> bool:
    return _status(err) == 404 or err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound")


class ObjectReader(io.RawIOBase):
    """A read-only, seekable view of one object, `[0, end)` of it when `end` is given."""

    def __init__(self, client, bucket: str, key: str, *, size: int | None = None, start: int = 0,
                 end: int | None = None, eager: bool = True):
        super().__init__()
        self._client, self._bucket, self._key = client, bucket, key
        self._size = size
        self._end = end  # exclusive: ranged requests stop there
        self._pos = start
        self._body = None
        self._body_pos = -1
        self.requests = 0
        if eager:
            self._request(start)

    # io.RawIOBase ---------------------------------------------------------------------------
    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    @property
    def size(self) -> int:
        if self._size is None:
            try:
                self._size = self._client.head_object(Bucket=self._bucket, Key=self._key)["ContentLength"]
            except ClientError as err:
                if _missing(err):
                    raise FileNotFoundError(f"no object {self._key!r} in bucket {self._bucket!r}") from None
                raise
        return self._size

    def seek(self, offset, whence=io.SEEK_SET):
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise OSError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def readinto(self, b) -> int:
        limit = self._limit()
        want = len(b) if limit is None else min(len(b), limit - self._pos)
        if want <= 0:
            return 0
        if self._body is not None and self._body_pos < self._pos <= self._body_pos + READ_AHEAD:
            self._skip(self._pos - self._body_pos)
        if self._body is None or self._body_pos != self._pos:
            self._request(self._pos)
            if self._body is None:
                return 0
        data = self._body.read(want)
        n = len(data)
        b[:n] = data
        self._pos += n
        self._body_pos += n
        return n

    def readall(self) -> bytes:
        """The rest of the object in 1 MiB reads (io's default reads 8 KiB at a time)."""
        out = bytearray()
        while chunk := self.read(READ_AHEAD):
            out += chunk
        return bytes(out)

    def close(self):
        self._drop()
        super().close()

    # requests -------------------------------------------------------------------------------
    def _limit(self) -> int | None:
        if self._end is not None:
            return self._end if self._size is None else min(self._end, self._size)
        return self._size

    def _skip(self, gap: int) -> None:
        while gap > 0:
            data = self._body.read(min(gap, BUFFER))
            if not data:
                self._drop()
                return
            gap -= len(data)
            self._body_pos += len(data)

    def _drop(self) -> None:
        if self._body is not None:
            self._body.close()
        self._body, self._body_pos = None, -1

    def _request(self, pos: int) -> None:
        self._drop()
        limit = self._limit()
        if limit is not None and pos >= limit:
            return
        kwargs = {}
        if pos > 0 or self._end is not None:
            kwargs["Range"] = f"bytes={pos}-" + (str(limit - 1) if self._end is not None and limit is not None else "")
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=self._key, **kwargs)
        except ClientError as err:
            if _missing(err):
                raise FileNotFoundError(f"no object {self._key!r} in bucket {self._bucket!r}") from None
            if _status(err) == 416:  # a range past the end (an empty object)
                return
            raise
        self.requests += 1
        if self._size is None:
            content_range = response.get("ContentRange") or ""
            self._size = int(content_range.rsplit("/", 1)[1]) if "/" in content_range else response["ContentLength"]
        self._body, self._body_pos = response["Body"], pos


class ObjectFile(File):
    """A Django File over an ObjectReader (buffered, so small reads and seeks cost no request)."""

    def __init__(self, reader: ObjectReader, name: str):
        self.reader = reader
        super().__init__(io.BufferedReader(reader, buffer_size=BUFFER), name=name)
        self.mode = "rb"

    @property
    def size(self):
        return self.reader.size

    def start(self) -> "ObjectFile":
        """Send the first GET now (read-ahead: called from a worker thread); returns self."""
        if self.reader._body is None:
            self.reader._request(self.reader.tell())
        return self


class S3Storage(BaseS3Storage):
    """django-storages' S3 backend whose files open for reading as streaming ObjectFiles."""

    def _key(self, name: str) -> str:
        return self._normalize_name(clean_name(name))

    @property
    def client(self):
        return self.connection.meta.client  # thread-local in django-storages; clients are thread-safe

    def _open(self, name, mode="rb"):
        if any(c in mode for c in "wa+"):
            return super()._open(name, mode)
        return ObjectFile(ObjectReader(self.client, self.bucket_name, self._key(name)), name)

    def open_stream(self, name: str, *, size: int | None = None, start: int = 0, end: int | None = None) -> ObjectFile:
        """Bytes [start, end) of `name` (end exclusive; default: to the end), nothing sent until read."""
        reader = ObjectReader(self.client, self.bucket_name, self._key(name), size=size, start=start, end=end,
                              eager=False)
        return ObjectFile(reader, name)

    def save_once(self, name: str, data: bytes, *, content_type: str = "application/octet-stream") -> bool:
        """Write `data` under `name` unless an object of that name exists. True when this call wrote it."""
        key = self._key(name)
        params = {**self.get_object_parameters(name), "ContentType": content_type}
        try:
            self.client.put_object(Bucket=self.bucket_name, Key=key, Body=data, IfNoneMatch="*", **params)
            return True
        except ClientError as err:
            status = _status(err)
            if status == 412:  # it exists: another writer (or an earlier attempt) stored it
                return False
            if status == 409:  # AWS: a concurrent conditional write of the same key is in flight
                return not self.exists(name) and self.save_once(name, data, content_type=content_type)
            if status not in (400, 501):
                raise
        # A server without conditional writes: look, then write (the same name is the same bytes).
        logger.warning("object storage: conditional PUT not supported by the server; checking existence first")
        if self.exists(name):
            return False
        self.client.put_object(Bucket=self.bucket_name, Key=key, Body=data, **params)
        return True

    def sizes(self, names: list[str]) -> list[int | None]:
        """Each object's size (None when missing), asked concurrently."""
        client, bucket = self.client, self.bucket_name

        def head(name):
            try:
                return client.head_object(Bucket=bucket, Key=self._key(name))["ContentLength"]
            except ClientError as err:
                if _missing(err):
                    return None
                raise

        if len(names) <= 1:
            return [head(n) for n in names]
        with ThreadPoolExecutor(max_workers=HEAD_THREADS) as pool:
            return list(pool.map(head, names))

    def presigned_url(self, name: str, *, filename: str = "", content_type: str = "") -> str:
        from django.utils.http import content_disposition_header

        params = {}
        if filename:
            params["ResponseContentDisposition"] = content_disposition_header(True, filename)
        if content_type:
            params["ResponseContentType"] = content_type
        return self.url(name, parameters=params)
