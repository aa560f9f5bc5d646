"""The download server that `.tcia` manifests name (`downloadServerUrl=…/nbia-download/servlet/
DownloadServlet`), speaking NBIA Data Retriever's protocol as its public source has it
(CBIIT/NBIA-TCIA, software/nbia-download-manager, app_version 4.41, and the server side in
software/nbia-download/…/servlet/DownloadServletV4.java, DownloadServletVersion.java):

1. `GET DownloadServletVersion?os=…&appVersion=…` → lines: latest app version, installer URL,
   password-encryption key, forced upgrade, help-desk URL, wiki URL. We answer 4.4, so a 4.x
   Retriever takes its V4 path and asks for no upgrade.
2. `GET /nbia-api/services/v1/getUserAgreementTxt` → the text the Retriever shows first.
3. `POST DownloadServletV4` (the Retriever appends "V4" to the manifest's URL) with
   `numberOfSeries`, `series1…N` → one `|`-separated line of 24 fields per series; a series the
   guest may not download makes the whole answer 460 "Login needed." as NBIA does.
4. `POST DownloadServletV4` with `seriesUid`, `sopUids` ('uid','uid' already on disk: skipped),
   `newFileNames`, `getMD5Hash` → an uncompressed TAR stream of `<SOP>^<acq>-<inst>.dcm` entries
   (then `md5hashes.csv`), which the Retriever unpacks into its descriptive folders.

Files are the latest released version's frozen files, streamed in constant memory from the
storage API with an exact Content-Length. Who may download what is collections_app.access's
rule (through `released_series`); requests count against the API's throttle. Logging in through the Retriever (an encrypted
password in a header) is not supported: limited collections answer 460 / 403, and their data
come through the portal or the API with a bearer token.
"""
import re
import tarfile

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from api.throttling import throttled
from collections_app.models import VersionEntry, VersionSeries
from collections_app.selectors import latest_version_with_series, released_series
from collections_app.services.downloads import file_names, sop_class_name
from collections_app.services.streaming import stream_stored
from tcia.core.params import ParameterError, whole_number

SERVER_VERSION = "4.4"
LOGIN_NEEDED, LOGIN_FAILED = 460, 461
CHUNK = 256 * 1024
_CLEAN = re.compile(r"[^A-Za-z0-9 .-]")
_CLEAN_URI = re.compile(r"[^A-Za-z0-9 .\-/:]")


def _lines(lines) -> HttpResponse:
    return HttpResponse(("\n".join(lines) + "\n").encode("utf-8"), content_type="text/plain; charset=utf-8")


def _clean(text, pattern=_CLEAN) -> str:
    """NBIA's cleanStr: the Retriever splits on '|' and '\\' and collapses empty fields, so
    every field is non-empty and free of both."""
    out = pattern.sub("", str(text or "")).strip()
    return out or "NA"


@csrf_exempt
def version(request):
    site = request.build_absolute_uri("/")
    return _lines([SERVER_VERSION, f"{site}downloads/", "none", "false", f"{site}", f"{site}collections/"])


def user_agreement(request, ctx=None, params=None):
    text = getattr(settings, "TCIA_RETRIEVER_AGREEMENT", "") or (
        f"Data from {settings.TCIA_SITE_NAME} are shared under each collection's license, written to the LICENSE "
        "file of its folder. By downloading you agree to its terms and to make no attempt to identify any subject."
    )
    response = HttpResponse(text.encode("utf-8"), content_type="application/octet-stream")
    response["Content-Disposition"] = 'attachment; filename="user-agreement.txt"'
    return response


def _user(request, params):
    """Only the guest: NBIA's encrypted-password login is not implemented (see module doc)."""
    if params.get("userId") and params.get("userId") != "nbia_guest" and request.headers.get("password"):
        return None
    from django.contrib.auth.models import AnonymousUser

    return AnonymousUser()


def _pinned(user, uids):
    """uid → (series, version) for released series the user may download (released_series:
    collections_app.access's data level, public collections only); missing ones left out."""
    out = {}
    for series in released_series(user).filter(series_instance_uid__in=list(uids)).select_related("collection"):
        version = latest_version_with_series(series)
        if version is not None:
            out[series.series_instance_uid] = (series, version)
    return out


def _files(series, version):
    rows = list(VersionEntry.objects.filter(version=version, series=series).values_list(
        "sop_instance_uid", "sop_class_uid", "instance_number", "acquisition_number",
        "stored_file__storage_name", "stored_file__size", "stored_file__md5"))
    rows.sort(key=lambda r: (r[2] is not None, r[2] or 0, r[0]))
    return rows


class _Named:
    def __init__(self, row):
        self.sop_instance_uid, self.sop_class_uid, self.instance_number, self.acquisition_number = row[:4]


def _series_lines(request, user, uids):
    pinned = _pinned(user, uids)
    if len(pinned) < len(set(uids)):
        return None
    snaps = {(v.pk, s.pk): snap for s, v in pinned.values()
             for snap in VersionSeries.objects.filter(version=v, series=s)}
    lines = []
    for uid in uids:
        series, version = pinned[uid]
        snap = snaps.get((version.pk, series.pk))
        files = _files(series, version)
        sop_class = next((f[1] for f in files if f[1]), "")
        from nbia.context import doi_url

        collection = series.collection
        fields = [
            _clean(snap.collection_short_name if snap else collection.short_name),
            _clean(snap.patient_id if snap else series.subject.patient_id),
            snap.study_instance_uid if snap else series.study.study_instance_uid,
            uid, "Yes" if series.annotations_flag else "No", str(len(files)), str(sum(f[5] for f in files)), "0",
            "url", "displayName", "true",
            snap.study_date.strftime("%m-%d-%Y") if snap and snap.study_date else "NA",
            _clean(snap.study_id if snap else ""), _clean(snap.study_description if snap else ""),
            _clean(snap.series_number if snap else series.series_number),
            _clean(snap.series_description if snap else series.series_description),
            "YES" if series.third_party_analysis else "NO", _clean(doi_url(collection.pk), _CLEAN_URI),
            _clean(snap.manufacturer if snap else series.manufacturer), _clean(series.modality),
            sop_class or "NA", _clean(sop_class_name(sop_class)), _clean(collection.get_license_display()),
            _clean(collection.license_url, _CLEAN_URI),
        ]
        lines.append("|".join(fields))
    return lines


def _tar_member(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    return info.tobuf(format=tarfile.GNU_FORMAT)


def _pad(size: int) -> bytes:
    return b"\0" * ((512 - size % 512) % 512)


def _tar_stream(members):
    """members: (name, size, storage name or bytes). Yields the TAR in constant memory."""
    for name, size, source in members:
        yield _tar_member(name, size)
        if isinstance(source, bytes):
            yield source
        else:
            yield from stream_stored(source, size, CHUNK)
        yield _pad(size)
    yield b"\0" * 1024


def _tar_length(members) -> int:
    return sum(len(_tar_member(name, size)) + size + len(_pad(size)) for name, size, _s in members) + 1024


def _series_tar(params, user):
    uid = (params.get("seriesUid") or "").strip()
    pinned = _pinned(user, [uid])
    if uid not in pinned:
        return HttpResponse(b"Access Denied", status=403, content_type="text/plain")
    series, version = pinned[uid]
    files = _files(series, version)
    skip = set(re.findall(r"'([^']+)'", params.get("sopUids") or ""))
    new_names = len(params.get("newFileNames") or "") > 1
    names = file_names([_Named(f) for f in files])
    members, md5_lines = [], ["Filename,MD5Hash"]
    for f, short in zip(files, names):
        if f[0] in skip:
            continue
        members.append((f"{f[0]}^{short}" if new_names else f"{f[0]}.dcm", f[5], f[4]))
        md5_lines.append(f"{short if new_names else f[0] + '.dcm'},{f[6]}")
    from fixity.blocking import refuse_blocked

    refuse_blocked([m[2] for m in members])  # failed the fixity audit: a clear 503 before the TAR starts
    if (params.get("getMD5Hash") or "") == "Yes":
        data = ("\n".join(md5_lines) + "\n").encode("utf-8")
        members.append(("md5hashes.csv", len(data), data))
    response = StreamingHttpResponse(_tar_stream(members), content_type="application/x-tar")
    response["Content-Length"] = str(_tar_length(members))
    return response


@csrf_exempt
def download(request):
    from .views import _params, too_many  # the NBIA views' helpers (imported late: they import this module)

    params = _params(request)
    user = _user(request, params)
    if user is None:
        return HttpResponse(b"Logging in through the Data Retriever is not supported by this server; "
                            b"public data need no login.", status=LOGIN_FAILED, content_type="text/plain")
    wait = throttled(request)  # the API's budget: one client, one count (api.throttling)
    if wait is not None:
        return too_many(wait)
    if params.get("numberOfSeries") is not None:
        try:
            n = whole_number(params, "numberOfSeries", 0)
        except ParameterError as exc:
            return HttpResponse(str(exc).encode("utf-8"), status=400, content_type="text/plain")
        # series1…seriesN are form fields: never look further than the form goes.
        uids = [params.get(f"series{i}") for i in range(1, min(n, len(params)) + 1) if params.get(f"series{i}")]
        if not uids:
            return HttpResponse(b"The manifest file should include at least one series instance UID.", status=400,
                                content_type="text/plain")
        lines = _series_lines(request, user, uids)
        if lines is None:
            return HttpResponse(b"Login needed.", status=LOGIN_NEEDED, content_type="text/plain")
        response = _lines(lines)
        response["Content-Disposition"] = "attachment;filename=downloadname.txt"
        return response
    return _series_tar(params, user)
