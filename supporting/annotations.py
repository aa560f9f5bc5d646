"""LIDC-IDRI readingSession XML (the `LidcReadMessage` schema of the LIDC-IDRI annotations).

`parse` reads the header's series and study UIDs and every `imageSOP_UID` of the reading
sessions (nodule ROIs and non-nodules). `rewrite_uids` replaces those UIDs in the text itself
(the rest of the file stays byte for byte), so the annotations name the de-identified images.
Documents with a DTD or entities are refused (no entity expansion, no external fetch).
"""
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

UID_ELEMENTS = ("imageSOP_UID", "SeriesInstanceUid", "SeriesInstanceUID", "StudyInstanceUID")
_UID_TEXT = re.compile(
    r"(<(?:[A-Za-z_][\w.-]*:)?(" + "|".join(UID_ELEMENTS) + r")>)(\s*)([0-9.]+)(\s*)(</)")


class AnnotationError(ValueError):
    pass


@dataclass
class Reading:
    series_uid: str = ""
    study_uid: str = ""
    sessions: int = 0
    nodules: int = 0
    non_nodules: int = 0
    sop_uids: list[str] = field(default_factory=list)  # in document order, repeated as they appear


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse(data: bytes, name: str = "annotation.xml") -> Reading:
    head = data[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in data.lower():
        raise AnnotationError(f"{name}: XML with a DTD or entities is not accepted")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise AnnotationError(f"{name}: not well-formed XML (line {exc.position[0]})") from None
    if _local(root.tag) != "LidcReadMessage" and not any(_local(e.tag) == "readingSession" for e in root.iter()):
        raise AnnotationError(f"{name}: not a LIDC-IDRI readingSession XML (root element {_local(root.tag)!r})")
    out = Reading()
    for element in root.iter():
        tag = _local(element.tag)
        text = (element.text or "").strip()
        if tag in ("SeriesInstanceUid", "SeriesInstanceUID") and not out.series_uid:
            out.series_uid = text
        elif tag == "StudyInstanceUID" and not out.study_uid:
            out.study_uid = text
        elif tag == "readingSession":
            out.sessions += 1
        elif tag == "unblindedReadNodule":
            out.nodules += 1
        elif tag == "nonNodule":
            out.non_nodules += 1
        elif tag == "imageSOP_UID" and text:
            out.sop_uids.append(text)
    return out


def rewrite_uids(data: bytes, mapping: dict[str, str]) -> tuple[bytes, int]:
    """Replace the UIDs of UID_ELEMENTS by mapping[uid] (absent: kept); returns the new bytes and
    how many were replaced."""
    text = data.decode("utf-8")
    count = 0

    def sub(m):
        nonlocal count
        new = mapping.get(m.group(4), m.group(4))
        if new != m.group(4):
            count += 1
        return f"{m.group(1)}{m.group(3)}{new}{m.group(5)}{m.group(6)}"

    return _UID_TEXT.sub(sub, text).encode("utf-8"), count
