"""Download packages: a streamed zip in NBIA Data Retriever's descriptive layout, and .tcia manifests.

A package is a list of ZipMembers whose sizes and CRC-32s are known before a byte is sent
(StoredFile keeps them), so the response has an exact Content-Length and the archive files are
copied, never hashed, while streaming. The layout inside the zip:

    <root>/<Collection>/LICENSE
    <root>/<Collection>/<PatientID>/<MM-dd-yyyy>-[<StudyID>-][<StudyDesc≤53>-]<last5 StudyUID>/
          [<SeriesNumber>-][<SeriesDesc≤53>-]<last5 SeriesUID>/1-NNN.dcm
    <root>/metadata.csv        the Retriever's 17 columns, CRLF, unquoted, sanitised
    <root>/sha256sums.txt      "<sha256>  <path>" for every other member (sha256sum -c format)

Everything in a package but metadata.csv's Download Timestamp is derived from frozen data (the
version's manifest and its creation time), so downloading the same version twice gives the same
files, LICENSE and folders byte for byte; metadata.csv (and its line in sha256sums.txt) records
when each download was made, as the NBIA Data Retriever's does.
"""
import datetime as dt
import functools
import hashlib
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from django.utils import timezone

from tcia.core import objectstore

from ..models import Collection, CollectionVersion, Series, StoredFile, VersionEntry
from ..selectors import latest_version_with_series
from .digest import nbia_date
from .zipstream import ZipMember, zip_length

METADATA_COLUMNS = [
    "Series UID", "Collection", "3rd Party Analysis", "Data Description URI", "Subject ID", "Study UID",
    "Study Description", "Study Date", "Series Description", "Manufacturer", "Modality", "SOP Class Name",
    "SOP Class UID", "Number of Images", "File Size", "File Location", "Download Timestamp",
]

_UNSAFE_PATH = re.compile(r'[\\/:*?"<>|\x00-\x1f]')
_UNSAFE_CSV = re.compile(r"[^A-Za-z0-9 .\-]")


@dataclass(frozen=True)
class PinnedSeries:
    """A series and the version whose frozen files it is served from."""

    series: Series
    version: CollectionVersion


@dataclass
class Package:
    name: str
    members: list[ZipMember]
    series: list[PinnedSeries]
    when: dt.datetime
    checksums: list[tuple[str, str]] = field(default_factory=list)  # (path, sha256) of every member but the list itself

    @functools.cached_property
    def length(self) -> int:
        return zip_length(self.members)

    @property
    def filename(self) -> str:
        return f"{self.name}.zip"


# Naming -------------------------------------------------------------------------------------


def path_part(text: str, limit: int | None = None) -> str:
    text = (text or "").strip()
    if limit:
        text = text[:limit]
    return _UNSAFE_PATH.sub("-", text).strip()


def last5(uid: str) -> str:
    return uid[-5:]


def study_folder(study) -> str:
    date = study.study_date.strftime("%m-%d-%Y") if study.study_date else "NA"
    parts = [date]
    if study.study_id:
        parts.append(path_part(study.study_id))
    if study.study_description:
        parts.append(path_part(study.study_description, 53))
    parts.append(last5(study.study_instance_uid))
    return "-".join(p for p in parts if p)


def series_folder(series) -> str:
    parts = []
    if series.series_number:
        parts.append(path_part(series.series_number))
    if series.series_description:
        parts.append(path_part(series.series_description, 53))
    parts.append(last5(series.series_instance_uid))
    return "-".join(p for p in parts if p)


def series_path(series) -> str:
    return "/".join([
        path_part(series.collection.short_name), path_part(series.subject.patient_id), study_folder(series.study), series_folder(series),
    ])


def snapshot_path(snap) -> str:
    """The folder of a series as frozen in a version (a VersionSeries)."""
    return "/".join([path_part(snap.collection_short_name), path_part(snap.patient_id), study_folder(snap), series_folder(snap)])


def snapshots_for(selection) -> dict:
    """(version id, series id) → VersionSeries for every pinned series, in one query."""
    from ..models import VersionSeries

    if not selection:
        return {}
    qs = VersionSeries.objects.filter(
        version_id__in={p.version.pk for p in selection}, series_id__in={p.series.pk for p in selection}
    )
    return {(s.version_id, s.series_id): s for s in qs}


def file_names(files) -> list[str]:
    """NBIA's NewFileNames: '<acquisition ordinal>-<counter within acquisition>.dcm', both zero-padded
    to the width of their largest value; files are already sorted by InstanceNumber, nulls first."""
    acquisitions = sorted({f.acquisition_number for f in files}, key=lambda a: (a is not None, a or 0))
    ordinal = {a: i + 1 for i, a in enumerate(acquisitions)}
    counters: dict = {}
    pairs = []
    for f in files:
        counters[f.acquisition_number] = counters.get(f.acquisition_number, 0) + 1
        pairs.append((ordinal[f.acquisition_number], counters[f.acquisition_number]))
    acq_width = len(str(max((a for a, _ in pairs), default=1)))
    inst_width = len(str(max((i for _, i in pairs), default=1)))
    return [f"{a:0{acq_width}d}-{i:0{inst_width}d}.dcm" for a, i in pairs]


def sanitize(text) -> str:
    text = _UNSAFE_CSV.sub("", str(text or "")).strip()
    return text or "NA"


def human_size(n: int) -> str:
    """Base-1000 sizes as the Retriever writes them: '12.34 MB'."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1000
    return f"{value:.2f} TB"


def sop_class_name(uid: str) -> str:
    if not uid:
        return ""
    from pydicom.uid import UID

    name = UID(uid).name
    return "" if name == uid else name


# Selections ---------------------------------------------------------------------------------


def _with_related(qs):
    return qs.select_related("collection", "subject", "study").order_by("subject__patient_id", "study__study_instance_uid", "series_instance_uid")


def version_selection(version: CollectionVersion, *, series_uids=None, study_uids=None) -> list[PinnedSeries]:
    """The series of `version`, optionally narrowed to some series and/or studies."""
    qs = Series.objects.filter(pk__in=VersionEntry.objects.filter(version=version).values("series_id"))
    if series_uids:
        qs = qs.filter(series_instance_uid__in=list(series_uids))
    if study_uids:
        qs = qs.filter(study__study_instance_uid__in=list(study_uids))
    return [PinnedSeries(s, version) for s in _with_related(qs)]


def latest_selection(series_qs) -> list[PinnedSeries]:
    """Each series from the latest (not withdrawn) version holding it; unversioned series are skipped."""
    out = []
    for s in _with_related(series_qs):
        version = latest_version_with_series(s)
        if version is not None:
            out.append(PinnedSeries(s, version))
    return out


def subset_selection(subset) -> list[PinnedSeries]:
    items = subset.items.select_related("version", "series__collection", "series__subject", "series__study")
    pinned = [PinnedSeries(i.series, i.version) for i in items]
    pinned.sort(key=lambda p: (p.series.collection.short_name, p.series.subject.patient_id, p.series.study.study_instance_uid, p.series.series_instance_uid))
    return pinned


# Files besides the images that a whole version's zip carries (the `supporting` app's):
# part(version) -> [(path inside the package, StoredFile)].
_PACKAGE_PARTS: list = []


def register_package_part(part) -> None:
    if part not in _PACKAGE_PARTS:
        _PACKAGE_PARTS.append(part)


def version_extras(version: CollectionVersion) -> list[tuple[str, StoredFile]]:
    return [item for part in _PACKAGE_PARTS for item in part(version)]


# Packages -----------------------------------------------------------------------------------


class FileRow(NamedTuple):
    sop_instance_uid: str
    sop_class_uid: str
    instance_number: int | None
    acquisition_number: int | None
    sha256: str
    size: int
    crc32: int
    storage_name: str


def version_series_files(series: Series, version: CollectionVersion) -> list[FileRow]:
    """The frozen files of a series in a version, as plain tuples (a download touches thousands
    of files; model instances would cost more than reading small files). Everything comes from
    the manifest, so later corrections of the index cannot rename an old version's files."""
    rows = [
        FileRow(*row)
        for row in VersionEntry.objects.filter(version=version, series=series).values_list(
            "sop_instance_uid", "sop_class_uid", "instance_number", "acquisition_number",
            "stored_file__sha256", "stored_file__size", "stored_file__crc32", "stored_file__storage_name")
    ]
    rows.sort(key=lambda f: (f.instance_number is not None, f.instance_number or 0, f.sop_instance_uid))
    return rows


def _assign_openers(stored_members) -> None:
    """Direct file opens on a folder; on a bucket, streamed GETs sent a few files ahead."""
    from django.core.files.storage import storages

    from fixity.blocking import refuse_blocked

    refuse_blocked([name for _m, name, _size in stored_members])  # before the first byte of the zip
    openers = objectstore.openers(storages["archive"], [(name, size) for _m, name, size in stored_members])
    for (member, _name, _size), open_member in zip(stored_members, openers):
        member.opener = open_member


def license_text(collection: Collection, version: CollectionVersion | None, cite_as: str) -> str:
    lines = [f"{collection.title} ({collection.short_name})"]
    if version is not None:
        lines.append(f"Version {version.number}, released {version.release_date.isoformat()}")
    if cite_as:
        lines.append(f"Cite as: {cite_as}")
    lines.append("")
    if collection.license_url:
        lines.append(f"These data are licensed under {collection.license_short}: {collection.license_url}")
    else:
        lines.append(f"These data are licensed under the {collection.license_short} license.")
    if collection.citation_note:
        lines += ["", collection.citation_note]
    if collection.data_use_agreement:
        lines += ["", "Data use agreement:", collection.data_use_agreement]
    return "\n".join(lines) + "\n"


def download_timestamp(moment: dt.datetime) -> str:
    """metadata.csv's Download Timestamp as the NBIA Data Retriever writes it: ISO local time with
    milliseconds, no zone (2024-05-01T12:34:56.789)."""
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}"


def build_package(selection: list[PinnedSeries], *, name: str, when: dt.datetime | None = None,
                  downloaded_at: dt.datetime | None = None, extras=()) -> Package:
    """The zip members for `selection`. `when` dates the entries (default: the newest version's
    creation time, so the DICOM files, LICENSE and folders of a version never change);
    `extras` are (path, StoredFile) of files besides the images (version_extras);
    `downloaded_at` (default: now) is metadata.csv's Download Timestamp, as the Retriever
    records when it downloaded each series. Its text has a fixed width, so the zip's length is
    known before it is sent."""
    if when is None:
        when = max((p.version.created_at for p in selection), default=timezone.now())
    local_when = timezone.localtime(when) if timezone.is_aware(when) else when
    mtime = local_when.replace(tzinfo=None, microsecond=0)
    stamp = download_timestamp(downloaded_at or timezone.now())
    root = path_part(name)
    members: list[ZipMember] = []
    checksums: list[tuple[str, str]] = []
    rows = []
    licensed = set()
    cite_cache: dict[int, str] = {}
    stored_members: list[tuple[ZipMember, str, int]] = []  # openers assigned at the end (read-ahead)
    snapshots = snapshots_for(selection)

    def frozen(pinned):
        return snapshots.get((pinned.version.pk, pinned.series.pk))

    def order(pinned):
        snap = frozen(pinned)
        if snap is None:
            return (pinned.series.collection.short_name, pinned.series.subject.patient_id,
                    pinned.series.study.study_instance_uid, pinned.series.series_instance_uid)
        return (snap.collection_short_name, snap.patient_id, snap.study_instance_uid, snap.series_instance_uid)

    for pinned in sorted(selection, key=order):
        series, version = pinned.series, pinned.version
        collection = series.collection
        snap = frozen(pinned)
        if version.pk not in cite_cache:
            cite_cache[version.pk] = version.doi_url
        cite = cite_cache[version.pk]
        if collection.pk not in licensed:
            licensed.add(collection.pk)
            data = license_text(collection, version, cite).encode("utf-8")
            lic_path = f"{path_part(collection.short_name)}/LICENSE"
            members.append(ZipMember.from_bytes(f"{root}/{lic_path}", data, mtime=mtime))
            checksums.append((lic_path, hashlib.sha256(data).hexdigest()))
        files = version_series_files(series, version)
        folder = snapshot_path(snap) if snap is not None else series_path(series)
        for f, fname in zip(files, file_names(files)):
            rel = f"{folder}/{fname}"
            member = ZipMember(name=f"{root}/{rel}", size=f.size, crc32=f.crc32, mtime=mtime)
            members.append(member)
            stored_members.append((member, f.storage_name, f.size))
            checksums.append((rel, f.sha256))
        sop_class = next((f.sop_class_uid for f in files if f.sop_class_uid), "")
        if snap is not None:
            facts = snap
            short_name, patient_id, study_uid = snap.collection_short_name, snap.patient_id, snap.study_instance_uid
            study_description, study_date = snap.study_description, snap.study_date
        else:
            facts = series
            short_name, patient_id, study_uid = collection.short_name, series.subject.patient_id, series.study.study_instance_uid
            study_description, study_date = series.study.study_description, series.study.study_date
        rows.append([
            facts.series_instance_uid, sanitize(short_name), "YES" if facts.third_party_analysis else "NO",
            cite or "NA", sanitize(patient_id), study_uid, sanitize(study_description),
            nbia_date(study_date) or "NA", sanitize(facts.series_description),
            sanitize(facts.manufacturer), sanitize(facts.modality), sanitize(sop_class_name(sop_class)), sop_class or "NA",
            str(len(files)), human_size(sum(f.size for f in files)), f"./{folder}", stamp,
        ])
    for rel, stored in extras:  # (path, StoredFile): a version's supporting files
        member = ZipMember(name=f"{root}/{rel}", size=stored.size, crc32=stored.crc32, mtime=mtime)
        members.append(member)
        stored_members.append((member, stored.storage_name, stored.size))
        checksums.append((rel, stored.sha256))
    _assign_openers(stored_members)
    csv_bytes = ("\r\n".join(",".join(r) for r in [METADATA_COLUMNS] + rows) + "\r\n").encode("utf-8")
    members.append(ZipMember.from_bytes(f"{root}/metadata.csv", csv_bytes, mtime=mtime))
    checksums.append(("metadata.csv", hashlib.sha256(csv_bytes).hexdigest()))
    sums = "".join(f"{sha}  {path}\n" for path, sha in checksums).encode("utf-8")
    members.append(ZipMember.from_bytes(f"{root}/sha256sums.txt", sums, mtime=mtime))
    return Package(name=root, members=members, series=selection, when=when, checksums=checksums)


def version_package_name(version: CollectionVersion) -> str:
    return f"{version.collection.short_name}-v{version.number}"


def manifest(selection: list[PinnedSeries], *, site_url: str, when: dt.datetime | None = None, include_annotation: bool = True) -> str:
    """A .tcia manifest (NBIA ManifestMaker format, LF line ends) listing the selection's series."""
    when = when or timezone.now()
    millis = int(when.timestamp() * 1000)
    lines = [
        f"downloadServerUrl={site_url.rstrip('/')}/nbia-download/servlet/DownloadServlet",
        f"includeAnnotation={'true' if include_annotation else 'false'}",
        "noOfrRetry=4",
        f"databasketId=manifest-{millis}.tcia",
        "manifestVersion=3.0",
        "ListOfSeriesToDownload=",
    ]
    lines += [p.series.series_instance_uid for p in selection]
    return "\n".join(lines) + "\n"


# HTTP Range -----------------------------------------------------------------------------------


class RangeNotSatisfiable(ValueError):
    pass


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) for a single 'bytes=' range; None to send the whole file
    (no header, or a multi-range request we answer in full). Raises RangeNotSatisfiable."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                raise RangeNotSatisfiable(header)
            start, end = max(size - suffix, 0), size - 1
        else:
            start = int(first)
            end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or start < 0 or end < start:
        raise RangeNotSatisfiable(header)
    return start, min(end, size - 1)


def read_range(stored: StoredFile, start: int, end: int, chunk: int = 1024 * 1024):
    """Bytes start..end (inclusive) of a stored file, streamed (on a bucket: one ranged GET)."""
    from django.core.files.storage import storages

    remaining = end - start + 1
    with objectstore.open_stream(storages["archive"], stored.storage_name, size=stored.size, start=start,
                                 end=end + 1) as fh:
        while remaining > 0:
            data = fh.read(min(chunk, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
