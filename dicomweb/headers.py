"""Parsed headers of stored files (InstanceHeader), built on first need and kept: stored files
never change, so each file is parsed at most once whatever the number of requests."""
import json
import logging

from django.core.files.storage import storages
from django.db import IntegrityError, transaction

from .dicomfile import DicomFileError, Parsed, parse
from .models import InstanceHeader

logger = logging.getLogger(__name__)


def _build(stored_file_id: int, storage_name: str) -> InstanceHeader | None:
    try:
        with storages["archive"].open(storage_name, "rb") as fh:
            parsed: Parsed = parse(fh)
    except (OSError, DicomFileError, ValueError) as exc:
        # Named by the stored file id only: no DICOM values in the log.
        logger.error("dicomweb: cannot parse stored file %s: %s", stored_file_id, type(exc).__name__)
        return None
    return InstanceHeader(
        stored_file_id=stored_file_id, dicom_json=parsed.dicom_json, transfer_syntax_uid=parsed.transfer_syntax_uid,
        summary=parsed.summary,
        bits_allocated=parsed.bits_allocated, rows=parsed.rows, columns=parsed.columns,
        samples_per_pixel=parsed.samples_per_pixel, number_of_frames=parsed.number_of_frames,
        pixel_vr=parsed.pixel_vr, pixel_offset=parsed.pixel_offset, pixel_length=parsed.pixel_length,
        frames=parsed.frames,
    )


def headers_for(files, layout_only: bool = False) -> dict[int, InstanceHeader]:
    """stored file id → InstanceHeader for (stored file id, storage name) pairs; files that cannot
    be parsed are left out (the caller answers without them or with an error). `layout_only`
    leaves the DICOM JSON unread (frame requests need only where the pixels are)."""
    files = dict(files)
    if not files:
        return {}
    qs = InstanceHeader.objects.filter(stored_file_id__in=list(files))
    if layout_only:
        qs = qs.defer("dicom_json", "summary")
    found = {h.stored_file_id: h for h in qs}
    missing = [(fid, name) for fid, name in files.items() if fid not in found]
    built = [h for h in (_build(fid, name) for fid, name in missing) if h is not None]
    if built:
        try:
            with transaction.atomic():
                InstanceHeader.objects.bulk_create(built, ignore_conflicts=True)
        except IntegrityError:  # a concurrent request stored them first
            pass
        found.update({h.stored_file_id: h for h in built})
    return found


def header_for(stored_file_id: int, storage_name: str, layout_only: bool = False) -> InstanceHeader | None:
    if layout_only:  # where the pixels lie: kept in process (stored files never change)
        from . import cache

        key = (stored_file_id, storage_name)
        header = cache.layouts.get(key)
        if header is None:
            header = headers_for([key], layout_only=True).get(stored_file_id)
            if header is not None:
                cache.layouts.put(key, header)
        return header
    return headers_for([(stored_file_id, storage_name)], layout_only).get(stored_file_id)


def header_text(header: InstanceHeader, instance_url: str) -> str:
    return header.dicom_json.replace("@@INSTANCE@@", instance_url)


def header_dict(header: InstanceHeader, instance_url: str) -> dict:
    return json.loads(header_text(header, instance_url))
