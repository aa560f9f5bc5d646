"""Element values straight from a RawDataElement's bytes, for reporting (no Django here).

`Dataset[tag]` converts a raw element into a DataElement and stores it back, which costs about
15 µs per element and makes the later write re-encode it. Intake reports every element of every
file to its hooks (the PHI report, the checks' facts), so for the common, unambiguous cases the
value is decoded here from the bytes instead, the way pydicom's converters would decode it, and
the dataset is left untouched. Anything unusual (implicit-VR private tags, UN, ambiguous VRs, AT,
character sets other than the default, Latin-1 and UTF-8, numbers that do not parse) returns
NOT_DECODED and the caller asks pydicom. tests/deid/test_rawvalue.py compares both ways over all
of pydicom's sample files.

Values come back as a str (one value), a list of str (several), int/float or a list of them
(binary numbers), bytes (OB, OW, …), or None (empty non-text element) — with the same text,
item by item, as str() of what pydicom returns.
"""
from __future__ import annotations

from struct import Struct

from pydicom.datadict import DicomDictionary

NOT_DECODED = object()

LATIN1 = _LATIN1 = "latin-1"  # pydicom's default_encoding "iso8859" is Latin-1
_CHARSETS = {"": _LATIN1, "ISO_IR 6": _LATIN1, "ISO_IR 100": _LATIN1, "ISO_IR 192": "utf-8"}

_SPLIT_TEXT = frozenset(("LO", "SH", "UC"))        # character set; split; each value rstrip("\0 ")
_SINGLE_TEXT = frozenset(("LT", "ST", "UT"))       # character set; one value; rstrip("\0 ")
_STRINGS = frozenset(("AS", "CS", "DA", "DT", "TM", "UI"))  # default set; rstrip(" \0"); split
_NUMERIC_STRINGS = frozenset(("DS", "IS"))
_BYTES = frozenset(("OB", "OW", "OF", "OD", "OL", "OV"))
_NUMBERS = {vr: (Struct("<" + f).size, f) for vr, f in
            (("US", "H"), ("SS", "h"), ("UL", "L"), ("SL", "l"), ("FL", "f"), ("FD", "d"), ("SV", "q"), ("UV", "Q"))}
_EMPTY_TEXT = frozenset(("AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"))
_STRUCTS: dict = {}


def charset_of(element, inherited: str | None = _LATIN1) -> str | None:
    """The Python codec for a dataset's Specific Character Set element (raw or converted; None
    when the dataset has none: then the parent's codec, `inherited`, applies to sequence items);
    None when this module does not decode that character set."""
    if element is None:
        return inherited
    value = element.value
    if value is None:
        value = ""
    elif isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode(_LATIN1)
    elif not isinstance(value, str):
        value = "\\".join(str(v) for v in value)
    parts = [p.strip() for p in value.split("\\")]
    if len(parts) != 1:  # code extensions: left to pydicom
        return None
    return _CHARSETS.get(parts[0])


def implicit_vr(tag: int) -> str | None:
    """The VR pydicom gives an implicit-VR public element without further lookups, or None."""
    entry = DicomDictionary.get(tag)
    if entry is None or tag & 0x10000:
        return None
    vr = entry[0]
    return vr if len(vr) == 2 else None  # "US or SS", "OB or OW": pydicom corrects these itself


def decode(raw, vr: str, codec: str | None):
    """The value of raw element `raw` (whose VR is `vr`) or NOT_DECODED. `codec` is the
    dataset's character set codec (from charset_of), None if unknown."""
    data = raw.value
    if data is None or len(data) == 0:
        if vr in _EMPTY_TEXT:
            return ""
        return None if vr in _NUMBERS or vr in _BYTES or vr in _NUMERIC_STRINGS else NOT_DECODED
    if vr in _STRINGS:
        text = data.decode(_LATIN1).rstrip(" \x00")
        return text.split("\\") if "\\" in text else text
    if vr in _SPLIT_TEXT or vr == "PN":
        if codec is None:
            return NOT_DECODED
        if vr == "PN":
            data = data.rstrip(b"\x00 ")
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            return NOT_DECODED
        if "\\" not in text:
            return text if vr == "PN" else text.rstrip("\0 ")
        if vr == "PN":
            return text.split("\\")
        return [v.rstrip("\0 ") for v in text.split("\\")]
    if vr in _SINGLE_TEXT:
        if codec is None:
            return NOT_DECODED
        try:
            return data.decode(codec).rstrip("\0 ")
        except UnicodeDecodeError:
            return NOT_DECODED
    if vr in _NUMERIC_STRINGS:
        text = data.decode(_LATIN1)
        text = (text.strip() if vr == "DS" else text).rstrip(" \x00")
        items = [v.strip() for v in text.split("\\")]
        for v in items:
            if not v:
                return NOT_DECODED  # pydicom keeps blank items unstripped
            try:
                float(v) if vr == "DS" else int(v)
            except ValueError:
                return NOT_DECODED
        return items if len(items) > 1 else items[0]
    number = _NUMBERS.get(vr)
    if number is not None:
        size, fmt = number
        n, rest = divmod(len(data), size)
        if rest or not raw.is_little_endian:
            return NOT_DECODED
        unpack = _STRUCTS.get((n, fmt))
        if unpack is None:
            unpack = _STRUCTS[(n, fmt)] = Struct(f"<{n}{fmt}").unpack
        values = unpack(data)
        return values[0] if n == 1 else list(values)
    if vr in _BYTES:
        return data
    if vr == "AE":
        items = [v.strip() for v in data.decode(_LATIN1).split("\\")]
        return items if len(items) > 1 else items[0]
    if vr == "UR":
        return data.decode(_LATIN1).rstrip()
    return NOT_DECODED


def raw_value(e, tag, codec):
    """(VR, value) of raw element `e` decoded from its bytes, or (None, NOT_DECODED)."""
    vr = e.VR
    if vr is None:
        vr = implicit_vr(tag)
    if vr is None or vr == "UN" or vr == "SQ":
        return None, NOT_DECODED
    return vr, decode(e, vr, codec)


def value_of(ds, tag, codec):
    """One element's value, decoded from its bytes when that is unambiguous (the element stays raw
    for the engine and the writer), else pydicom's conversion."""
    from pydicom.dataelem import RawDataElement

    e = ds._dict[tag]
    if type(e) is RawDataElement:
        v = raw_value(e, tag, codec)[1]
        if v is not NOT_DECODED:
            return v
    return ds[tag].value


_NEEDS_CODEC = _SPLIT_TEXT | _SINGLE_TEXT | {"PN"}


def get(ds, keyword: str, default=None):
    """What `ds.get(keyword, default)` gives, for reading a few attributes of a dataset (intake's
    checks, the image index): `value_of` for the keyword's element (decoded from its bytes where
    unambiguous, the dataset left raw: nothing for the writer to re-encode), a converted
    element's own value. Values as `decode` returns them: IS and DS as their text, several values
    as a list, so callers convert with int()/float() and treat a single value and a list alike."""
    from pydicom.datadict import tag_for_keyword
    from pydicom.dataelem import DataElement

    tag = tag_for_keyword(keyword)
    if tag is None:
        return ds.get(keyword, default)
    e = ds._dict.get(tag)
    if e is None:
        return default
    if type(e) is DataElement:
        return e.value
    vr = e.VR  # the character set is looked up only for the text VRs that need it
    codec = charset_of(ds._dict.get(0x00080005)) if vr is None or vr in _NEEDS_CODEC else _LATIN1
    return value_of(ds, tag, codec)
