"""What a supporting file is: its kind (given or detected), its content type and what can be
said about it without a viewer (rows and columns, slide dimensions, pages). Bad input raises
DescribeError naming the file and the reason."""
import io
import mimetypes
import re

from .models import Kind

CONTENT_TYPES = {"csv": "text/csv", "tsv": "text/tab-separated-values",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


class DescribeError(ValueError):
    pass


def detect_kind(name: str, data: bytes) -> str:
    lower = name.lower()
    if lower.endswith((".csv", ".tsv", ".xlsx", ".tab")):
        return Kind.RADIOMICS if re.search(r"radiomic|feature", lower) else Kind.CLINICAL
    if lower.endswith(".xml"):
        return Kind.ANNOTATION
    if lower.endswith((".pdf", ".txt", ".md")):
        return Kind.DOCUMENT
    if lower.endswith((".svs", ".tif", ".tiff", ".ndpi")) or data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return Kind.PATHOLOGY
    return Kind.OTHER


def slide_info(data: bytes, name: str) -> dict:
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages[0]
            series = tif.series[0] if tif.series else None
            levels = len(series.levels) if series is not None else 1
            return {
                "format": "svs" if tif.is_svs else "tiff", "width": int(page.imagewidth), "height": int(page.imagelength),
                "levels": levels, "pages": len(tif.pages), "tiled": bool(page.is_tiled),
                "tile": [int(page.tilelength), int(page.tilewidth)] if page.is_tiled else None,
                "samples": int(page.samplesperpixel), "dtype": str(page.dtype), "compression": page.compression.name,
            }
    except Exception:  # noqa: BLE001 - tifffile raises many kinds for a broken file
        raise DescribeError(f"{name}: not a readable TIFF/SVS slide") from None


def document_info(data: bytes, name: str) -> tuple[str, dict]:
    if data.startswith(b"%PDF-"):
        pages = len(re.findall(rb"/Type\s*/Page(?!s)", data))
        return "application/pdf", {"format": "pdf", "pages": pages}
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DescribeError(f"{name}: a document must be a PDF or UTF-8 text") from None
    return "text/plain", {"format": "txt", "lines": text.count("\n") + (0 if text.endswith("\n") or not text else 1)}


def guess_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
