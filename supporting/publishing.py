"""How supporting files join a version: manifest lines, freezing, the version zip, the gate,
and the reads the public pages, the DataCite record and the digest make."""
import csv
import io

from django.urls import reverse

from collections_app.models import CollectionVersion

from .models import SupportingFile, VersionSupportingFile

ZIP_FOLDER = "supporting"


def current(collection):
    return SupportingFile.objects.filter(collection=collection, detached_at__isnull=True).select_related("stored_file")


def manifest_lines(collection) -> list[tuple[str, str]]:
    """('supporting/<name>', sha256) of every attached file: part of the next version's manifest."""
    return [(f"{ZIP_FOLDER}/{name}", sha) for name, sha in
            current(collection).values_list("name", "stored_file__sha256")]


def freeze(version: CollectionVersion) -> int:
    rows = [VersionSupportingFile(version=version, supporting_file=sf, name=sf.name, kind=sf.kind, description=sf.description,
                                  content_type=sf.content_type, stored_file=sf.stored_file, info=sf.info)
            for sf in current(version.collection)]
    VersionSupportingFile.objects.bulk_create(rows)
    return len(rows)


def entries(version: CollectionVersion | None):
    if version is None:
        return VersionSupportingFile.objects.none()
    return VersionSupportingFile.objects.filter(version=version).select_related("stored_file").order_by("name")


def package_files(version: CollectionVersion):
    """(path in the zip, StoredFile) of a version's supporting files."""
    return [(f"{ZIP_FOLDER}/{e.name}", e.stored_file) for e in entries(version)]


def publication_gate(collection):
    """No publication while a table has a column the profiler flagged and nobody decided on."""
    from collections_app.services.publish import GateFailure

    from .services import unreviewed_columns

    pending = list(unreviewed_columns(collection).values_list("supporting_file__name", "column")[:6])
    if not pending:
        return []
    total = unreviewed_columns(collection).count()
    named = ", ".join(f"{name}: {column}" for name, column in pending[:5])
    return [GateFailure(f"{total} flagged column{'s' if total != 1 else ''} of supporting tables without a disposition "
                        f"({named}{' …' if total > 5 else ''})", reverse("supporting:list", args=[collection.slug]))]


def rows_for(version: CollectionVersion) -> list[dict]:
    """What the landing and collection pages list per file."""
    return [{"name": e.name, "kind": e.get_kind_display(), "size": e.stored_file.size, "sha256": e.stored_file.sha256,
             "description": e.description, "content_type": e.content_type, "info": e.info,
             "url": reverse("supporting_download", args=[version.pk, e.name])} for e in entries(version)]


def datacite_parts(version: CollectionVersion | None) -> tuple[list[str], list[str]]:
    """(formats, sizes) the version's supporting files add to its DataCite record."""
    formats, sizes = [], []
    for e in entries(version):
        if e.content_type not in formats:
            formats.append(e.content_type)
        sizes.append(f"{e.name}: {e.stored_file.size} bytes")
    return formats, sizes


DIGEST_COLUMNS = ["Collection", "Version", "File", "Kind", "Content Type", "File Size", "SHA256", "Description", "Rows",
                  "Columns", "Path in zip"]


def digest_csv(version: CollectionVersion) -> str:
    """The supporting data digest: one row per supporting file of the version."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(DIGEST_COLUMNS)
    for e in entries(version):
        writer.writerow([version.collection.short_name, version.number, e.name, e.get_kind_display(), e.content_type,
                         e.stored_file.size, e.stored_file.sha256, e.description, e.info.get("rows", ""),
                         len(e.info.get("columns", [])) or "", f"{ZIP_FOLDER}/{e.name}"])
    return buf.getvalue()
