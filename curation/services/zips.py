"""Safe reading of uploaded zip files: entry by entry, with limits against zip bombs and
path traversal. A bad entry is reported and skipped; the rest of the archive goes on."""
import posixpath
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

MAX_ENTRIES = 200_000
MAX_RATIO = 200  # uncompressed / compressed, for entries of RATIO_FROM bytes or more
RATIO_FROM = 64 * 1024  # small entries may compress well by chance; a bomb's members are large


@dataclass
class ZipEntry:
    name: str
    data: bytes | None
    error: str = ""  # non-empty: reject the entry (quarantining `data` when there is any)


def is_zip(data_or_file) -> bool:
    return zipfile.is_zipfile(data_or_file)


def unsafe_name_reason(name: str) -> str:
    if "\x00" in name:
        return "entry name contains a NUL byte"
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        return "absolute path in zip entry name (path traversal)"
    parts = [p for p in normalized.split("/") if p]
    if ".." in parts:
        return "'..' in zip entry name (path traversal)"
    if posixpath.normpath(normalized).startswith(".."):
        return "zip entry name escapes the archive (path traversal)"
    return ""


def iter_zip(fileobj, *, max_file_bytes: int, max_total_bytes: int) -> Iterator[ZipEntry]:
    """Yield each file entry's bytes, or an error for entries that break a limit.

    Sizes in the zip's headers can lie, so reading stops at the limit whatever they claim.
    """
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError) as exc:
        yield ZipEntry(name="", data=None, error=f"not a readable zip file: {exc}")
        return
    infos = [i for i in archive.infolist() if not i.is_dir()]
    if len(infos) > MAX_ENTRIES:
        yield ZipEntry(name="", data=None, error=f"zip holds {len(infos)} entries; the limit is {MAX_ENTRIES}")
        return
    total = 0
    for info in infos:
        reason = unsafe_name_reason(info.filename)
        if info.flag_bits & 0x1:
            yield ZipEntry(info.filename, None, "encrypted zip entry")
            continue
        if info.file_size > max_file_bytes:
            yield ZipEntry(info.filename, None, f"entry of {info.file_size} bytes exceeds the per-file limit of {max_file_bytes}")
            continue
        if info.file_size >= RATIO_FROM and info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
            yield ZipEntry(info.filename, None, f"compression ratio {info.file_size // info.compress_size}:1 looks like a zip bomb")
            continue
        if total + info.file_size > max_total_bytes:
            yield ZipEntry(info.filename, None, f"zip expands beyond the total limit of {max_total_bytes} bytes (zip bomb?)")
            continue
        try:
            with archive.open(info) as fh:
                data = fh.read(max_file_bytes + 1)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            yield ZipEntry(info.filename, None, f"cannot read zip entry: {exc}")
            continue
        if len(data) > max_file_bytes:
            yield ZipEntry(info.filename, None, f"entry expands beyond the per-file limit of {max_file_bytes} bytes (zip bomb?)")
            continue
        total += len(data)
        # An unsafe name is never used as a path; the bytes are kept for the curator to inspect.
        yield ZipEntry(info.filename, data, reason)
