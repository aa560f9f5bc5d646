"""The de-identification engine (no Django here).

Usage::

    engine = Deidentifier(profile=Profile.tcia_default(), uid_root="1.3.6.1.4.1.14519.5.2.1.9999",
                          secret=b"...", subjects=SubjectMap(prefix="LUNG"),
                          safe_private=SafePrivateDictionary.load_default(), masks=MaskRules([...]))
    result = engine.deidentify_dataset(ds)             # in place
    result = engine.deidentify_file("in.dcm", "out.dcm")
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import pydicom
from pydicom.datadict import DicomDictionary, dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels.utils import get_expected_length
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import BaseTag
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian

from . import dates as _dates
from . import fastread as _fastread
from . import rawvalue as _rawvalue
from .clean import clean_text, collect_identifiers
from .pixels import MaskRules, PixelMaskError, apply_masks
from .private import DATE as P_DATE, DELETE as P_DELETE, KEEP as P_KEEP, UID as P_UID
from .private import SafePrivateDictionary, normalize_creator
from .profile import Action, CompiledProfile, Profile
from .subjects import Subject, as_resolver
from .uids import UIDRemapper

A = Action
_KEEP, _REMOVE, _EMPTY, _DUMMY, _UID, _CLEAN, _SHIFT, _RECURSE, _SUBJECT = range(9)
N_ACTIONS = 9
# extra counters
_C_PRIV_KEEP, _C_PRIV_REMOVE, _C_BAD_DATE = 9, 10, 11
COUNTER_NAMES = A.NAMES + ("private_kept", "private_removed", "bad_date_removed")

TEXT_VRS = frozenset(("LO", "SH", "ST", "LT", "UT", "UC", "PN", "AE", "CS"))
BULK_TAGS = frozenset((0x7FE00010, 0x7FE00008, 0x7FE00009))

# UI attributes that name classes, syntaxes or coding resources, not instances: never remapped.
_UI_KEEP_KEYWORD_PARTS = ("SOPClass", "TransferSyntax", "ImplementationClassUID", "CodingSchemeUID",
                          "ContextGroupExtensionCreatorUID", "ContextUID", "MappingResourceUID",
                          "PrivateInformationCreatorUID", "CreatorVersionUID", "SegmentationTemplateUID",
                          "RepositoryUniqueID", "HomeCommunityID", "RetrieveLocationUID")

DUMMY = {
    "PN": "ANONYMIZED", "LO": "ANONYMIZED", "SH": "ANONYMIZED", "LT": "ANONYMIZED",
    "ST": "ANONYMIZED", "UT": "ANONYMIZED", "UC": "ANONYMIZED", "CS": "ANONYMIZED",
    "AE": "ANONYMIZED", "UR": "http://anonymized.invalid", "DA": "19000101",
    "DT": "19000101000000", "TM": "000000", "AS": "000Y", "DS": "0", "IS": "0",
    "US": 0, "SS": 0, "UL": 0, "SL": 0, "FL": 0.0, "FD": 0.0, "UV": 0, "SV": 0,
    "AT": 0, "OB": b"\x00\x00", "OW": b"\x00\x00", "UN": b"\x00\x00", "OD": b"\x00" * 8,
    "OF": b"\x00" * 4, "OL": b"\x00" * 4, "OV": b"\x00" * 8,
}

_T_PIR, _T_METHOD, _T_METHOD_SEQ = BaseTag(0x00120062), BaseTag(0x00120063), BaseTag(0x00120064)
_T_LTIM = BaseTag(0x00280303)
_NOVALIDATE = 0  # pydicom.config.IGNORE: values we write are valid by construction
_T_CV, _T_CSD, _T_CM = BaseTag(0x00080100), BaseTag(0x00080102), BaseTag(0x00080104)

# Date attributes shifted by default even though Table E.1-1 does not list them.
_DATE_VRS = ("DA", "DT")


class DeidError(Exception):
    """A file could not be de-identified (message names the file)."""


@dataclass
class DeidResult:
    source: str = ""
    destination: str = ""
    subject_id: str = ""
    original_patient_id: str = ""
    date_offset_days: int = 0
    counts: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    masked_rects: int = 0
    sop_instance_uid: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors


class _Ctx:
    __slots__ = ("offset", "counts", "tokens", "warnings", "ds_top")

    def __init__(self, offset, tokens, ds_top):
        self.offset = offset
        self.counts = [0] * 12
        self.tokens = tokens
        self.warnings = []
        self.ds_top = ds_top


class Deidentifier:
    def __init__(self, profile: Profile | None = None, uid_root: str = "1.3.6.1.4.1.14519.5.2.1.9999",
                 secret: bytes | str = b"", subjects=None,
                 safe_private: SafePrivateDictionary | None = None, masks: MaskRules | None = None,
                 on_element: Callable[[str, str, object], None] | None = None, table=None,
                 fill_value: int = 0, uid_namespace: str = ""):
        self.profile = profile or Profile.tcia_default()
        self.compiled: CompiledProfile = self.profile.compile(table)
        self.uids = UIDRemapper(uid_root, secret, namespace=uid_namespace)
        self.resolver = as_resolver(subjects)
        if safe_private is None and self.profile.has("retainSafePrivate"):
            safe_private = SafePrivateDictionary.load_default()
        self.safe_private = safe_private or SafePrivateDictionary()
        self.masks = masks or MaskRules()
        self.on_element = on_element
        self.fill_value = fill_value
        self.edition = self.compiled.table.edition
        p = self.profile
        self._full_dates = p.has("retainLongitudinalFullDates")
        self._modified_dates = p.has("retainLongitudinalModifiedDates")
        self._retain_uids = p.has("retainUIDs")
        self._clean_pixels = p.has("cleanPixelData")
        self._keep_private = self.compiled.private_action != A.REMOVE
        self._dict_vr = {BaseTag(t): e[0] for t, e in DicomDictionary.items()}
        self._keyword = {BaseTag(t): e[4] for t, e in DicomDictionary.items()}
        self._actions = self._build_actions()
        self._ltim = ("UNMODIFIED" if self._full_dates else "MODIFIED" if self._modified_dates else "REMOVED")
        self._items_cache = None
        self._sequence_cache: dict = {}
        self._method_text = self._build_method_text()

    # ------------------------------------------------------------------ setup
    def _build_actions(self) -> dict:
        """Per-tag action: table rows + defaults for unlisted DA/DT (shift), UI (remap)
        and SQ (walk) attributes of pydicom's dictionary."""
        acts: dict = {}
        date_default = _KEEP if self._full_dates else _SHIFT
        ui_default = _KEEP if self._retain_uids else _UID
        for tag, entry in DicomDictionary.items():
            vr, kw = entry[0], entry[4]
            if vr in _DATE_VRS:
                acts[tag] = date_default
            elif vr == "UI":
                if any(p in kw for p in _UI_KEEP_KEYWORD_PARTS):
                    acts[tag] = _KEEP
                else:
                    acts[tag] = ui_default
            elif vr == "SQ":
                acts[tag] = _RECURSE
        for tag, act in self.compiled.actions.items():
            entry = DicomDictionary.get(tag)
            if act == _KEEP and entry is not None and entry[0] == "SQ":
                act = _RECURSE  # kept sequences are still walked
            acts[tag] = act
        return {BaseTag(t): a for t, a in acts.items()}

    def _method_items(self) -> list:
        """Items of DeidentificationMethodCodeSequence; built once, shared (treat as read-only)."""
        if self._items_cache is not None:
            return self._items_cache
        items = []
        for code, meaning in self.profile.method_codes():
            it = Dataset()
            it._dict.update({
                _T_CV: DataElement(_T_CV, "SH", code),
                _T_CSD: DataElement(_T_CSD, "SH", "DCM"),
                _T_CM: DataElement(_T_CM, "LO", meaning),
            })
            items.append(it)
        self._items_cache = items
        return items

    def _method_sequence(self, ds):
        """DeidentificationMethodCodeSequence for ``ds``: the same for every file, so encoded once
        per encoding (pydicom's own encoding of it) and set as a raw element, which the writer
        copies as it is; a hook that reads it gets it parsed like any raw sequence. A dataset in a
        character set where ASCII might not stay ASCII gets the sequence as a DataElement."""
        element = DataElement(_T_METHOD_SEQ, "SQ", DicomSequence(self._method_items()), validation_mode=_NOVALIDATE)
        implicit, little = ds.is_implicit_VR, ds.is_little_endian
        charset = ds._dict.get(0x00080005)
        if implicit is None or little is None or (
                charset is not None and _rawvalue.charset_of(charset, None) is None):
            return element
        key = (implicit, little)
        cache = self._sequence_cache
        if key not in cache:
            from pydicom.filebase import DicomBytesIO
            from pydicom.filewriter import write_data_element

            buf = DicomBytesIO()
            buf.is_implicit_VR, buf.is_little_endian = implicit, little
            write_data_element(buf, element)
            encoded = buf.getvalue()
            head = 8 if implicit else 12  # tag, (VR, reserved,) 32-bit length
            value = encoded[head:]
            assert int.from_bytes(encoded[head - 4:head], "little" if little else "big") == len(value)
            cache[key] = value
            _KNOWN_SEQUENCES[id(value)] = (value, self._method_items())
        value = cache[key]
        return RawDataElement(_T_METHOD_SEQ, None if implicit else "SQ", len(value), value, 0, implicit, little,
                              True, False)

    def _build_method_text(self) -> list:
        vals = [f"PS3.15 E.1-1 {self.edition} Basic Profile"[:64]]
        for code, meaning in self.profile.method_codes()[1:]:
            vals.append(meaning[:64])
        return vals

    # ------------------------------------------------------------------ public API
    def deidentify_dataset(self, ds: Dataset, *, masks: Sequence | None = None,
                           source: str = "", on_element: Callable | None = None) -> DeidResult:
        """De-identify ``ds`` in place. ``masks``: per-file rectangles (x, y, w, h) that
        replace the device-signature rules. ``on_element`` overrides the engine's hook for
        this call. Raises DeidError on failure."""
        res = DeidResult(source=source)
        d = ds._dict
        # identity ------------------------------------------------------------
        pid = ""
        if 0x00100020 in d:
            pid = str(ds[0x00100020].value or "").strip()
        if not pid:
            res.warnings.append("empty or missing PatientID: mapped to the subject of PatientID ''")
        subject: Subject = self.resolver.resolve(pid, ds)
        res.subject_id, res.original_patient_id = subject.subject_id, pid
        res.date_offset_days = subject.date_offset_days
        tokens = collect_identifiers(ds)
        ctx = _Ctx(subject.date_offset_days, tokens, ds)
        # pixels (before the header walk, while the device signature is intact) ----
        if self._clean_pixels:
            rects = list(masks) if masks is not None else self.masks.find(ds)
            if rects:
                try:
                    res.masked_rects = apply_masks(ds, rects, self.fill_value)
                except PixelMaskError as exc:
                    raise DeidError(f"{source or 'dataset'}: pixel masking failed: {exc}") from exc
                except Exception as exc:  # decoder errors
                    raise DeidError(f"{source or 'dataset'}: cannot decode pixel data for masking: "
                                    f"{type(exc).__name__}: {exc}") from exc
            elif str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
                res.warnings.append("BurnedInAnnotation is YES but no pixel mask rule matched")
        # header ---------------------------------------------------------------
        self._walk(ds, ctx, subject)
        self._finish(ds, subject)
        counts = ctx.counts
        res.counts = {COUNTER_NAMES[i]: n for i, n in enumerate(counts) if n}
        res.warnings.extend(ctx.warnings)
        res.sop_instance_uid = str(ds.get("SOPInstanceUID", ""))
        res.study_instance_uid = str(ds.get("StudyInstanceUID", ""))
        res.series_instance_uid = str(ds.get("SeriesInstanceUID", ""))
        hook = on_element if on_element is not None else self.on_element
        if hook is not None:
            self.report(ds, hook)
        return res

    def deidentify_file(self, src, dst=None, *, masks: Sequence | None = None,
                        on_element: Callable | None = None) -> DeidResult:
        """Read ``src`` (path, bytes or binary file object), de-identify, write ``dst``
        (path or binary file object; None = don't write). Never raises for bad input:
        problems are returned in ``result.errors`` (each naming the file) and nothing is written."""
        name = _name_of(src)
        res = DeidResult(source=name)
        try:
            ds = read_dicom(src, name)
            res = self.deidentify_dataset(ds, masks=masks, source=name, on_element=on_element)
            if dst is not None:
                write_dicom(ds, dst)
                res.destination = _name_of(dst)
        except DeidError as exc:
            res.errors.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop a batch
            res.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        return res

    # ------------------------------------------------------------------ walk
    def _walk(self, ds: Dataset, ctx: _Ctx, subject: Subject) -> None:
        d = ds._dict
        acts = self._actions
        counts = ctx.counts
        private_tags = None
        overlay_groups = None
        for tag in list(d):
            if tag & 0x10000:  # odd group: private (or illegal)
                if private_tags is None:
                    private_tags = []
                private_tags.append(tag)
                continue
            act = acts.get(tag)
            if act is None:
                elem = tag & 0xFFFF
                if elem == 0:                       # group length: drop (recomputed / retired)
                    del d[tag]
                    continue
                grp = tag >> 16
                if 0x5000 <= grp <= 0x501E:
                    act = self.compiled.curve_action
                elif 0x6000 <= grp <= 0x601E and elem in (0x3000, 0x4000):
                    act = self.compiled.overlay_action
                    if act == _REMOVE:
                        if overlay_groups is None:
                            overlay_groups = set()
                        overlay_groups.add(grp)
                else:
                    vr = d[tag].VR               # unknown public tag: act by VR when known
                    if vr == "SQ":
                        act = _RECURSE
                    elif vr in _DATE_VRS:
                        act = _KEEP if self._full_dates else _SHIFT
                    elif vr == "UI":
                        act = _KEEP if self._retain_uids else _UID
                    else:
                        continue
            if act == _KEEP:
                continue
            if act == _REMOVE:
                del d[tag]
                counts[_REMOVE] += 1
            elif act == _UID:
                self._uid(ds, tag, ctx, subject)
            elif act == _SHIFT:
                self._shift(ds, tag, ctx)
            elif act == _RECURSE:
                e = ds[tag]
                if e.VR == "SQ":
                    for item in e.value:
                        self._walk(item, ctx, subject)
                elif e.VR == "UI" and not self._retain_uids:
                    self._uid(ds, tag, ctx, subject)
            elif act == _CLEAN:
                self._clean(ds, tag, ctx, subject)
            elif act == _EMPTY:
                e = d[tag]
                vr = e.VR or self._vr(tag)
                if type(e) is RawDataElement and vr != "SQ":
                    d[tag] = _raw_like(e, b"")
                else:
                    d[tag] = DataElement(tag, vr, _empty(vr), validation_mode=_NOVALIDATE)
                counts[_EMPTY] += 1
            elif act == _DUMMY:
                self._dummy(ds, tag, ctx, subject)
            elif act == _SUBJECT:
                e = d[tag]
                if type(e) is RawDataElement:
                    d[tag] = _raw_like(e, _pad(subject.subject_id.encode("ascii"), b" "))
                else:
                    d[tag] = DataElement(tag, e.VR or self._vr(tag), subject.subject_id,
                                         validation_mode=_NOVALIDATE)
                counts[_SUBJECT] += 1
        if overlay_groups:
            for tag in list(d):
                if (tag >> 16) in overlay_groups:
                    del d[tag]
                    counts[_REMOVE] += 1
        if private_tags is not None:
            self._privates(ds, private_tags, ctx, subject)

    def _vr(self, tag) -> str:
        vr = self._dict_vr.get(tag)
        return vr if vr else _vr_of(tag)

    def _walk_seq(self, elem, ctx, subject):
        for item in elem.value:
            self._walk(item, ctx, subject)

    def _uid(self, ds, tag, ctx, subject):
        d = ds._dict
        e = d[tag]
        if type(e) is RawDataElement:
            vr = e.VR or self._vr(tag)
            if vr == "SQ":
                self._walk_seq(ds[tag], ctx, subject)
                return
            v = e.value
            if not v:
                return
            remap = self.uids
            new = "\\".join([remap(x.strip(" \x00")) for x in v.decode("latin-1").strip(" \x00").split("\\")])
            d[tag] = _raw_like(e, _pad(new.encode("latin-1"), b"\x00"))
        else:
            if e.VR == "SQ":
                self._walk_seq(e, ctx, subject)
                return
            if not e.value:
                return
            d[tag] = DataElement(tag, e.VR, _map_value(e.value, self.uids), validation_mode=_NOVALIDATE)
        ctx.counts[_UID] += 1

    def _shift(self, ds, tag, ctx):
        d = ds._dict
        e = d[tag]
        vr = e.VR or self._vr(tag)
        fn = _dates.shift_da if vr == "DA" else _dates.shift_dt if vr == "DT" else None
        if fn is None:
            if vr == "SQ":
                self._walk_seq(ds[tag], ctx, None)
            return
        off = ctx.offset
        try:
            if type(e) is RawDataElement:
                v = e.value
                if not v:
                    return
                new = "\\".join([fn(x, off) for x in v.decode("latin-1").strip(" \x00").split("\\")])
                d[tag] = _raw_like(e, _pad(new.encode("latin-1"), b" "))
            else:
                if not e.value:
                    return
                d[tag] = DataElement(tag, vr, _map_value(e.value, lambda x: fn(x, off)),
                                     validation_mode=_NOVALIDATE)
            ctx.counts[_SHIFT] += 1
        except _dates.BadDate:
            d[tag] = DataElement(tag, vr, "", validation_mode=_NOVALIDATE)
            ctx.counts[_C_BAD_DATE] += 1
            kw = self._keyword.get(tag, "")
            ctx.warnings.append(f"{_tag_str(tag)} {kw}: unparseable {vr} value emptied")

    def _clean(self, ds, tag, ctx, subject):
        d = ds._dict
        e = d[tag]
        vr = e.VR or self._vr(tag)
        if vr == "SQ":
            self._walk_seq(ds[tag], ctx, subject)
            return
        if vr in _DATE_VRS:
            if not self._full_dates:
                self._shift(ds, tag, ctx)
            return
        if vr == "UI":
            if not self._retain_uids:
                self._uid(ds, tag, ctx, subject)
            return
        if vr not in TEXT_VRS:
            return  # TM, numbers, binary: nothing identifying by themselves under the claimed option
        tokens = ctx.tokens
        if type(e) is RawDataElement:
            v = e.value
            if not v:
                return
            if v.isascii():
                text = v.decode("ascii")
                new = clean_text(text.rstrip(" \x00"), tokens)
                if new != text.rstrip(" \x00"):
                    d[tag] = _raw_like(e, _pad(new.encode("ascii"), b" "))
                    ctx.counts[_CLEAN] += 1
                return
            e = ds[tag]
        old = e.value
        if not old:
            return
        new = _map_value(old, lambda x: clean_text(str(x), tokens))
        changed = new != [str(x) for x in old] if isinstance(old, MultiValue) else new != str(old)
        if changed:
            d[tag] = DataElement(tag, vr, new, validation_mode=_NOVALIDATE)
            ctx.counts[_CLEAN] += 1

    def _dummy(self, ds, tag, ctx, subject):
        d = ds._dict
        e = d[tag]
        vr = e.VR or self._vr(tag)
        if vr == "SQ":
            self._walk_seq(ds[tag], ctx, subject)
            return
        if vr == "UI":
            if not self._retain_uids:
                self._uid(ds, tag, ctx, subject)
            return
        if tag in (0x00120040, 0x00120042):  # ClinicalTrialSubjectID / ReadingID
            val = subject.subject_id
        else:
            val = DUMMY.get(vr, b"\x00\x00")
        if type(e) is RawDataElement and isinstance(val, str):
            d[tag] = _raw_like(e, _pad(val.encode("ascii"), b" "))
        else:
            d[tag] = DataElement(tag, vr, val, validation_mode=_NOVALIDATE)
        ctx.counts[_DUMMY] += 1

    def _privates(self, ds, tags, ctx, subject):
        d = ds._dict
        counts = ctx.counts
        if not self._keep_private:
            for t in tags:
                del d[t]
            counts[_C_PRIV_REMOVE] += len(tags)
            return
        creators = {}
        for t in tags:
            el = t & 0xFFFF
            if 0x10 <= el <= 0xFF:
                e = d[t]
                v = e.value
                creators[((t >> 16), el)] = normalize_creator(v if v is not None else "")
        kept_blocks = set()
        lookup = self.safe_private.lookup
        for t in tags:
            el = t & 0xFFFF
            if el < 0x1000:
                continue  # creators decided below; (gggg,0001-000F) and (gggg,0100-0FFF) dropped
            grp = t >> 16
            creator = creators.get((grp, el >> 8))
            action = lookup(grp, creator, el & 0xFF) if creator is not None else None
            if action is None or action == P_DELETE:
                del d[t]
                counts[_C_PRIV_REMOVE] += 1
                continue
            kept_blocks.add((grp, el >> 8))
            counts[_C_PRIV_KEEP] += 1
            if action == P_KEEP:
                e = d[t]
                if e.VR == "SQ" or (e.VR is None and e.length == 0xFFFFFFFF):
                    self._walk_seq(ds[t], ctx, subject)
                continue
            e = ds[t]
            v = e.value
            if not v:
                continue
            if action == P_UID:
                e.value = _map_value_any(v, self.uids)
                counts[_UID] += 1
            elif action == P_DATE and not self._full_dates:
                try:
                    e.value = _map_value_any(v, lambda s: _dates.shift_any(s, ctx.offset))
                    counts[_SHIFT] += 1
                except _dates.BadDate:
                    del d[t]
                    counts[_C_BAD_DATE] += 1
                    ctx.warnings.append(f"private {_tag_str(t)} ({creator}): unparseable date removed")
        for t in tags:
            el = t & 0xFFFF
            if el < 0x1000 and t in d and not (0x10 <= el <= 0xFF and ((t >> 16), el) in kept_blocks):
                del d[t]
                counts[_C_PRIV_REMOVE] += 1

    def _finish(self, ds, subject):
        """Top-level attributes that record the de-identification."""
        d = ds._dict
        d[_T_PIR] = DataElement(_T_PIR, "CS", "YES", validation_mode=_NOVALIDATE)
        d[_T_METHOD] = DataElement(_T_METHOD, "LO", self._method_text, validation_mode=_NOVALIDATE)
        d[_T_METHOD_SEQ] = self._method_sequence(ds)
        d[_T_LTIM] = DataElement(_T_LTIM, "CS", self._ltim, validation_mode=_NOVALIDATE)
        fm = getattr(ds, "file_meta", None)
        if fm is not None:
            fd = fm._dict
            for t in (0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102):
                if t in fd:
                    del fd[t]
            if "SOPInstanceUID" in ds:
                fm.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            if "SOPClassUID" in ds:
                fm.MediaStorageSOPClassUID = ds.SOPClassUID

    # ------------------------------------------------------------------ reporting
    @staticmethod
    def report(ds: Dataset, hook: Callable[[str, str, object], None]) -> None:
        """Call ``hook(tag_path, vr, value)`` for every non-sequence element of ``ds``
        (file meta first). Sequences are descended; paths look like
        ``(0008,1115)[0](0020,000E)``; private elements ``(0019,"SIEMENS CT VA0  COAD",92)``.
        Bulk data (pixel data, and binary values > 1 KiB) is passed as ``None``."""
        fm = getattr(ds, "file_meta", None)
        if fm is not None:
            _report(fm, "", hook)
        _report(ds, "", hook)

    @staticmethod
    def elements(ds: Dataset) -> list:
        """What `report` reports, as a list of (tag_path, vr, value)."""
        out = []
        Deidentifier.report(ds, lambda path, vr, value: out.append((path, vr, value)))
        return out


# id(encoded bytes) → (those bytes, the items they encode): sequences the engine sets as raw
# elements (Deidentifier._method_sequence); the report walks the items instead of parsing the bytes
_KNOWN_SEQUENCES: dict = {}


def _report(ds, prefix, hook, inherited=_rawvalue.LATIN1):
    d = ds._dict
    creators = None
    codec = _rawvalue.charset_of(d.get(0x00080005), inherited)
    not_decoded = _rawvalue.NOT_DECODED
    for tag in sorted(d, key=int):  # int keys: BaseTag compares in Python
        grp, el = tag >> 16, tag & 0xFFFF
        e = d[tag]
        if tag in BULK_TAGS:  # no conversion of pixel data
            hook(f"{prefix}({grp:04X},{el:04X})", e.VR or "OW", None)
            continue
        if grp & 1 and el >= 0x1000:
            if creators is None:
                creators = {}
            key = (grp, el >> 8)
            if key not in creators:
                ct = (grp << 16) | (el >> 8)
                creators[key] = normalize_creator(_value(ds, ct, codec)) if ct in d else ""
            p = f'{prefix}({grp:04X},"{creators[key]}",{el & 0xFF:02x})'
        else:
            p = f"{prefix}({grp:04X},{el:04X})"
        # raw elements are decoded from their bytes where that is unambiguous (rawvalue), which
        # leaves them raw for a fast write; the rest are converted by pydicom (and kept converted)
        vr, v = _raw_value(e, tag, codec) if type(e) is RawDataElement else (None, not_decoded)
        if v is not_decoded and type(e) is RawDataElement:
            known = _KNOWN_SEQUENCES.get(id(e.value))
            if known is not None and known[0] is e.value:  # a sequence the engine encoded: its items as built
                for i, item in enumerate(known[1]):
                    _report(item, f"{p}[{i}]", hook, codec)
                continue
        if v is not_decoded:
            e = ds[tag]
            vr = e.VR
            if vr == "SQ":
                for i, item in enumerate(e.value):
                    _report(item, f"{p}[{i}]", hook, codec)
                continue
            v = e.value
        if isinstance(v, (bytes, bytearray)) and len(v) > 1024:
            v = None
        hook(p, vr, v)


_raw_value = _rawvalue.raw_value
_value = _rawvalue.value_of


# ---------------------------------------------------------------------- helpers
def _pad(b: bytes, pad: bytes) -> bytes:
    return b + pad if len(b) & 1 else b


def _raw_like(e, value: bytes):
    """A RawDataElement like ``e`` with a new (already encoded, even-length) value: written as is."""
    return RawDataElement(e.tag, e.VR, len(value), value, e.value_tell, e.is_implicit_VR,
                          e.is_little_endian, True, False)


def _map_value(v, fn):
    if isinstance(v, (MultiValue, list, tuple)):
        return [fn(x) for x in v]
    return fn(v)


def _map_value_any(v, fn):
    """Like _map_value, for private values that may be raw bytes (implicit VR / UN)."""
    if isinstance(v, (bytes, bytearray)):
        text = bytes(v).decode("latin-1").rstrip("\x00 ")
        parts = text.split("\\")
        out = "\\".join(fn(p) for p in parts).encode("latin-1")
        if len(out) % 2:
            out += b"\x00" if fn.__class__ is UIDRemapper else b" "
        return out
    return _map_value(v, fn)


_STR_VRS = frozenset(("AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM",
                      "UC", "UI", "UR", "UT"))


def _empty(vr):
    if vr == "SQ":
        return DicomSequence()
    return "" if vr in _STR_VRS else None


def _vr_of(tag) -> str:
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return "UN"
    return vr.split(" or ")[0] if " or " in vr else vr


def _tag_str(tag) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _name_of(x) -> str:
    if isinstance(x, (str, os.PathLike)):
        return str(x)
    if isinstance(x, (bytes, bytearray, memoryview)):
        return "<bytes>"
    return str(getattr(x, "name", "<stream>"))


def read_dicom(src, name: str | None = None) -> Dataset:
    """Read a DICOM file (path, bytes or file object) or raise DeidError naming it."""
    name = name or _name_of(src)
    ds = None
    if isinstance(src, (bytes, bytearray, memoryview)):
        src = bytes(src)
        ds = _fastread.read_bytes(src)  # the dataset dcmread reads, faster; None: dcmread's to read
        src = io.BytesIO(src)
    try:
        try:
            if ds is None:
                ds = pydicom.dcmread(src)
        except InvalidDicomError:
            if hasattr(src, "seek"):
                src.seek(0)
            ds = pydicom.dcmread(src, force=True)
            d = ds._dict
            if 0x00080016 not in d or 0x00080018 not in d or not _plausible(ds):
                raise DeidError(f"{name}: not a DICOM file (no preamble/DICM and no SOP Class/Instance UID)")
    except DeidError:
        raise
    except FileNotFoundError as exc:
        raise DeidError(f"{name}: file not found") from exc
    except (EOFError, OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise DeidError(f"{name}: not a readable DICOM file ({type(exc).__name__}: {exc})") from exc
    _check_truncated(ds, name)
    return ds


def _plausible(ds) -> bool:
    try:
        uid = str(ds.SOPClassUID)
        return uid.startswith("1.") or uid.startswith("2.")
    except Exception:  # noqa: BLE001
        return False


def _check_truncated(ds, name):
    d = ds._dict
    if not d:
        raise DeidError(f"{name}: empty or truncated DICOM file (no data elements)")
    last = d[max(map(int, d))]  # plain ints: BaseTag compares in Python
    if isinstance(last, RawDataElement) and last.length != 0xFFFFFFFF and last.value is not None \
            and len(last.value) < last.length:
        raise DeidError(f"{name}: truncated DICOM file: element {_tag_str(last.tag)} has "
                        f"{len(last.value)} of {last.length} bytes")
    if 0x7FE00010 in d and hasattr(ds, "file_meta"):
        ts = ds.file_meta.get("TransferSyntaxUID")
        pd = d[0x7FE00010]
        if ts is not None and not ts.is_compressed and isinstance(pd, (RawDataElement, DataElement)):
            expected = _expected_pixel_bytes(ds)
            if expected is None:
                return
            have = len(pd.value) if pd.value is not None else 0
            if have < expected:
                raise DeidError(f"{name}: truncated DICOM file: PixelData has {have} of {expected} bytes")


def _expected_pixel_bytes(ds) -> int | None:
    """Bytes of native Pixel Data as PS3.5 8.1.1 defines them, computed by pydicom itself: chroma
    subsampled YBR_FULL_422 (2 samples' worth per pixel), bit-packed 1-bit data (rounded up to a
    whole byte), every frame. The odd-length padding byte is not part of it. None when the
    attributes it needs are missing or unreadable (the file is not judged then)."""
    fast = _expected_pixel_bytes_raw(ds)
    if fast is not None:
        return fast
    try:
        return int(get_expected_length(ds, unit="bytes"))
    except (AttributeError, ValueError, TypeError, KeyError):
        return None


_PIXEL_ATTRS = ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated")


def _expected_pixel_bytes_raw(ds) -> int | None:
    """get_expected_length's formula on the attributes as rawvalue reads them (not converted in
    the dataset, which the writer would then re-encode); None for anything but plain positive
    numbers and a plain frame count, which pydicom's own function then judges."""
    from .rawvalue import get

    values = [get(ds, k) for k in _PIXEL_ATTRS]
    if not all(type(v) is int and v > 0 for v in values):
        return None
    rows, columns, samples, bits = values
    frames = get(ds, "NumberOfFrames", "1")
    if type(frames) is not str or not frames.strip().isdigit() or int(frames) == 0:
        return None  # several values, an empty or a zero count: pydicom's rules (and warning)
    length = rows * columns * samples * int(frames)
    length = length // 8 + (length % 8 > 0) if bits == 1 else length * (bits // 8)
    photometric = get(ds, "PhotometricInterpretation", "")
    if type(photometric) is not str:
        return None
    return length // 3 * 2 if photometric == "YBR_FULL_422" else length


def write_dicom(ds: Dataset, dst) -> None:
    """Write ``ds`` as a DICOM file to a path (through a temporary name) or a binary file object."""
    data = encode_dicom(ds)
    if isinstance(dst, (str, os.PathLike)):
        dst = Path(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".part")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, dst)
        finally:
            if tmp.exists():
                tmp.unlink()
        return
    dst.write(data)


def encode_dicom(ds: Dataset) -> bytes:
    """The DICOM file for ``ds``: a transfer syntax named from its encoding when it has none, then
    what `pydicom.dcmwrite(..., enforce_file_format=True)` writes, made without re-encoding the
    elements that are still as they were read (see fastwrite)."""
    from .fastwrite import dcmwrite_bytes

    fm = getattr(ds, "file_meta", None)
    if fm is None or "TransferSyntaxUID" not in fm:
        if fm is None:
            ds.file_meta = fm = FileMetaDataset()
        if ds.is_implicit_VR is False:
            fm.TransferSyntaxUID = ExplicitVRLittleEndian if ds.is_little_endian is not False else ExplicitVRBigEndian
        else:
            fm.TransferSyntaxUID = ImplicitVRLittleEndian
        fm.MediaStorageSOPClassUID = ds.SOPClassUID
        fm.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return dcmwrite_bytes(ds)
