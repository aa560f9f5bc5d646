"""Image downloads of the NBIA-compatible API: getImage, getImageWithMD5Hash, getDCMImage and
getSingleImage.

Better than TCIA where its users suffer (reference §9): the zip is streamed in constant memory
from the stored CRC-32s (ZIP64 when needed) with an exact Content-Length, every file is checked
to be present and of the right size *before* the first byte is sent, so a failure is a clear
JSON error rather than a truncated zip; single files honour HTTP Range.
"""
import hashlib
import re
from dataclasses import dataclass

from django.core.files.storage import storages
from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse
from django.template.loader import render_to_string

from collections_app.access import can_download
from collections_app.models import Collection, Image, VersionEntry
from collections_app.selectors import SeriesFile, series_files
from collections_app.services.zipstream import ZipMember, stream_zip, zip_length

from tcia.core import objectstore

from .queries import ApiError, series_catalogue

NOT_GRANTED = "The user has not been granted the access to the series: {uid}"


def json_error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message, "status": status}, status=status)


@dataclass
class Resolved:
    series: object
    collection: Collection
    files: list[SeriesFile]


def resolve_series(request, uid: str) -> Resolved:
    """The released series `uid` if the user may download it; ApiError otherwise."""
    if not uid:
        raise ApiError("A parameter, SeriesInstanceUID, is required for this API call.")
    series = series_base_for(request).filter(series_instance_uid=uid.strip()).select_related("collection").first()
    if series is None:
        raise ApiError(f"No released series has SeriesInstanceUID {uid}.", status=404)
    if not can_download(request.user, series.collection):
        raise ApiError(NOT_GRANTED.format(uid=uid))
    return Resolved(series, series.collection, download_files(series))


@dataclass(frozen=True)
class FileRef:
    """What streaming needs of a StoredFile, read with values_list (no model instances)."""

    size: int
    crc32: int
    md5: str
    storage_name: str

    def open(self):
        return storages["archive"].open(self.storage_name, "rb")


def download_files(series) -> list:
    """The files of `series` as `series_files` orders them, in two cheap queries when the series
    was never frozen into a version (the common case before publication), else `series_files`."""
    frozen = VersionEntry.objects.filter(series=series, version__withdrawn_at__isnull=True).exists()
    if frozen:
        return series_files(series)
    rows = Image.objects.filter(series=series).values_list(
        "sop_instance_uid", "sop_class_uid", "instance_number", "acquisition_number",
        "stored_file__size", "stored_file__crc32", "stored_file__md5", "stored_file__storage_name",
    ).order_by()
    out = [SeriesFile(r[0], r[1], r[2], r[3], FileRef(r[4], r[5], r[6], r[7])) for r in rows]
    out.sort(key=lambda f: (f.instance_number is not None, f.instance_number or 0, f.sop_instance_uid))
    return out


def series_base_for(request):
    """Catalogue level: a limited series the caller has no agreement for is refused with
    NOT_GRANTED (as NBIA does) rather than reported missing."""
    from .context import Ctx

    return series_catalogue(Ctx(user=request.user, generation="v4"))


def check_present(files: list[SeriesFile]) -> None:
    """ApiError (500) naming what is missing or damaged (on a bucket, sizes come from concurrent
    HEAD requests)."""
    from fixity.blocking import FileBlocked, refuse_blocked

    storage = storages["archive"]
    names = [f.stored_file.storage_name for f in files]
    try:
        refuse_blocked(names)
    except FileBlocked as exc:
        raise ApiError(exc.message, status=exc.status) from None
    found = objectstore.sizes(storage, names)
    problems = [f.sop_instance_uid for f, size in zip(files, found) if size != f.stored_file.size]
    if problems:
        shown = ", ".join(problems[:5]) + (" …" if len(problems) > 5 else "")
        raise ApiError(
            f"{len(problems)} of {len(files)} files of this series are missing or damaged in the archive storage "
            f"({shown}); nothing was sent. The archive staff have been told by the server log.",
            status=500,
        )


def file_members(names: list[str], files: list[SeriesFile]) -> list[ZipMember]:
    """Direct file opens on a folder; on a bucket, streamed GETs sent a few files ahead."""
    openers = objectstore.openers(storages["archive"], [(f.stored_file.storage_name, f.stored_file.size) for f in files])
    return [ZipMember(name=n, size=f.stored_file.size, crc32=f.stored_file.crc32, opener=o)
            for n, f, o in zip(names, files, openers)]


def new_file_names(files: list[SeriesFile]) -> list[str]:
    """`{acq}-{inst}.dcm` (reference §3.3), the same names the portal's downloads use."""
    from collections_app.services.downloads import file_names

    return file_names(files)


def _extension(f: SeriesFile) -> str:
    return ".dcm"


def default_file_names(files: list[SeriesFile]) -> list[str]:
    return [f"{i:08d}{_extension(f)}" for i, f in enumerate(files, start=1)]


def _md5(f: SeriesFile) -> str:
    if f.stored_file.md5:
        return f.stored_file.md5
    # Files stored before MD5s were recorded: hash once here (rare; never the CRC path).
    h = hashlib.md5(usedforsecurity=False)
    with f.stored_file.open() as fh:
        while chunk := fh.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def md5_member(names, files) -> ZipMember:
    lines = ["Filename,MD5Hash"] + [f"{n},{_md5(f)}" for n, f in zip(names, files)]
    return ZipMember.from_bytes("md5hashes.csv", ("\n".join(lines) + "\n").encode("utf-8"))


def license_text(collection: Collection) -> str:
    return render_to_string(
        "nbia/LICENSE.txt",
        {
            "collection": collection,
            "license_name": collection.get_license_display(),
            "license_short": collection.license_short,
            "license_url": collection.license_url,
        },
    )


def zip_response(uid: str, members: list[ZipMember]) -> StreamingHttpResponse:
    # 256 KiB reads: large enough for few syscalls, small enough to reuse heap memory (1 MiB
    # reads cost a fresh mmap and its page faults per chunk).
    response = StreamingHttpResponse(stream_zip(members, chunk_size=256 * 1024), content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{uid}.zip"'
    response["Content-Length"] = str(zip_length(members))
    return response


def get_image(request, params, *, md5_variant=False, dcm_variant=False):
    uid = (params.get("SeriesInstanceUID") or "").strip()
    resolved = resolve_series(request, uid)
    files = resolved.files
    if not files:
        raise ApiError(f"The series {uid} holds no images.", status=404)
    check_present(files)
    members: list[ZipMember] = []
    if md5_variant:
        names = default_file_names(files)
        include_md5 = True
    elif dcm_variant:
        names = new_file_names(files)
        include_md5 = (params.get("MD5Verification") or "").lower() == "true"
    else:
        names = new_file_names(files) if (params.get("NewFileNames") or "").lower() == "yes" else default_file_names(files)
        include_md5 = (params.get("IncludeMD5") or "").lower() == "yes"
        members.append(ZipMember.from_bytes("LICENSE", license_text(resolved.collection).encode("utf-8")))
    members += file_members(names, files)
    if include_md5:
        members.append(md5_member(names, files))
    return zip_response(uid, members)


RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def get_single_image(request, params):
    uid = (params.get("SeriesInstanceUID") or "").strip()
    sop = (params.get("SOPInstanceUID") or "").strip()
    if not sop:
        raise ApiError("A parameter, SOPInstanceUID, is required for this API call.")
    resolved = resolve_series(request, uid)
    match = [f for f in resolved.files if f.sop_instance_uid == sop]
    if not match:
        raise ApiError(f"The series {uid} has no image with SOPInstanceUID {sop}.", status=404)
    f = match[0]
    check_present([f])
    size = f.stored_file.size
    disposition = f"attachment; filename={sop}.dcm"
    header = request.META.get("HTTP_RANGE", "")
    if header:
        m = RANGE_RE.match(header.strip())
        start = end = None
        if m and (m.group(1) or m.group(2)):
            if m.group(1):
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else size - 1
            else:
                length = int(m.group(2))
                start, end = max(size - length, 0), size - 1
            end = min(end, size - 1)
        if start is None or start > end or start >= size:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        fh = objectstore.open_stream(storages["archive"], f.stored_file.storage_name, size=size, start=start, end=end + 1)
        length = end - start + 1

        def chunks(fh=fh, left=length):
            try:
                while left > 0:
                    data = fh.read(min(1024 * 1024, left))
                    if not data:
                        break
                    left -= len(data)
                    yield data
            finally:
                fh.close()

        response = StreamingHttpResponse(chunks(), status=206, content_type="application/dicom")
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(length)
        response["Accept-Ranges"] = "bytes"
        response["Content-Disposition"] = disposition
        return response
    fh = objectstore.open_stream(storages["archive"], f.stored_file.storage_name, size=size)
    response = FileResponse(fh, content_type="application/dicom")
    response["Content-Length"] = str(size)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = disposition
    return response
