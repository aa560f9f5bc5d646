"""Profile = PS3.15 Basic Application Level Confidentiality Profile + claimed options.

Compilation turns Table E.1-1 plus the option set into per-tag integer actions
(see ``Action``) so that the engine does a single dict lookup per element.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from .table import PRIVATE_ROW, ConfidentialityTable, load_table


class Action:
    """Integer action codes used by the compiled profile (fast dispatch)."""

    KEEP = 0        # K (sequences are still walked)
    REMOVE = 1      # X
    EMPTY = 2       # Z
    DUMMY = 3       # D
    UID = 4         # U: deterministic remap
    CLEAN = 5       # C: descriptor cleaning / date shift / UID remap depending on VR
    SHIFT = 6       # not in table, DA/DT: shift by the subject offset
    RECURSE = 7     # X/Z/U*: keep the sequence and act on its items
    SUBJECT = 8     # replaced by the subject ID (PatientName, PatientID)
    NAMES = ("keep", "remove", "empty", "dummy", "uid", "clean", "shift", "recurse", "subject")


# Option name -> (PS3.16 CID 7050 code, code meaning, Table E.1-1 column or None)
OPTIONS = {
    "cleanPixelData": ("113101", "Clean Pixel Data Option", None),
    "cleanRecognizableVisualFeatures": ("113102", "Clean Recognizable Visual Features Option", None),
    "cleanGraphics": ("113103", "Clean Graphics Option", "cleanGraphOpt"),
    "cleanStructuredContent": ("113104", "Clean Structured Content Option", "cleanStructContOpt"),
    "cleanDescriptors": ("113105", "Clean Descriptors Option", "cleanDescOpt"),
    "retainLongitudinalFullDates": ("113106", "Retain Longitudinal Temporal Information Full Dates Option", "rtnLongFullDatesOpt"),
    "retainLongitudinalModifiedDates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option", "rtnLongModifDatesOpt"),
    "retainPatientCharacteristics": ("113108", "Retain Patient Characteristics Option", "rtnPatCharsOpt"),
    "retainDeviceIdentity": ("113109", "Retain Device Identity Option", "rtnDevIdOpt"),
    "retainUIDs": ("113110", "Retain UIDs Option", "rtnUIDsOpt"),
    "retainSafePrivate": ("113111", "Retain Safe Private Option", "rtnSafePrivOpt"),
    "retainInstitutionIdentity": ("113112", "Retain Institution Identity Option", "rtnInstIdOpt"),
}
BASIC_CODE = ("113100", "Basic Application Confidentiality Profile")

# Short aliases accepted by Profile.from_names (CLI): the Table E.1-1 column names and codes.
ALIASES = {col: name for name, (_, _, col) in OPTIONS.items() if col}
ALIASES.update({code: name for name, (code, _, _) in OPTIONS.items()})
ALIASES.update({name.lower(): name for name in OPTIONS})
ALIASES.update({
    "pixels": "cleanPixelData", "descriptors": "cleanDescriptors", "graphics": "cleanGraphics",
    "structured": "cleanStructuredContent", "fulldates": "retainLongitudinalFullDates",
    "modifieddates": "retainLongitudinalModifiedDates", "dates": "retainLongitudinalModifiedDates",
    "patchars": "retainPatientCharacteristics", "device": "retainDeviceIdentity",
    "uids": "retainUIDs", "safeprivate": "retainSafePrivate", "institution": "retainInstitutionIdentity",
})

TCIA_DEFAULT_OPTIONS = (
    "cleanPixelData", "cleanDescriptors", "retainLongitudinalModifiedDates",
    "retainPatientCharacteristics", "retainDeviceIdentity", "retainSafePrivate",
)

# Resolution of the "weakest action that keeps the IOD valid" codes without IOD
# type information (documented in docs/deid.md).
COMPOUND = {"X/Z": "Z", "X/D": "D", "Z/D": "D", "X/Z/D": "D", "X/Z/U*": "RECURSE"}
CODE_TO_ACTION = {
    "K": Action.KEEP, "X": Action.REMOVE, "Z": Action.EMPTY, "D": Action.DUMMY,
    "U": Action.UID, "C": Action.CLEAN, "RECURSE": Action.RECURSE,
}

# Attributes whose basic action is overridden: they receive the subject ID.
SUBJECT_TAGS = (0x00100010, 0x00100020)  # PatientName, PatientID


@dataclass(frozen=True)
class Profile:
    options: frozenset = field(default_factory=frozenset)
    name: str = "custom"

    def __post_init__(self):
        unknown = set(self.options) - set(OPTIONS)
        if unknown:
            raise ValueError(f"unknown de-identification option(s): {sorted(unknown)}")
        if {"retainLongitudinalFullDates", "retainLongitudinalModifiedDates"} <= set(self.options):
            raise ValueError("Full Dates and Modified Dates options are mutually exclusive")

    # constructors ---------------------------------------------------------
    @classmethod
    def basic(cls) -> "Profile":
        return cls(frozenset(), "basic")

    @classmethod
    def tcia_default(cls) -> "Profile":
        return cls(frozenset(TCIA_DEFAULT_OPTIONS), "tcia")

    @classmethod
    def from_names(cls, spec: str | Iterable[str]) -> "Profile":
        """``"tcia"``, ``"basic"`` or a comma list of option names/aliases/codes.

        A list may start with ``tcia,`` and contain ``-name`` items to switch a
        TCIA default option off (e.g. ``"tcia,-retainSafePrivate"``).
        """
        items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
        opts: set = set()
        name = "custom"
        for it in items:
            low = it.lower()
            if low == "tcia":
                opts |= set(TCIA_DEFAULT_OPTIONS)
                name = "tcia" if len(items) == 1 else "custom"
                continue
            if low == "basic":
                name = "basic" if len(items) == 1 else "custom"
                continue
            neg = it.startswith("-")
            key = it[1:] if neg else it
            opt = key if key in OPTIONS else ALIASES.get(key) or ALIASES.get(key.lower())
            if opt is None:
                raise ValueError(f"unknown option {it!r}; known: {', '.join(sorted(OPTIONS))}")
            (opts.discard if neg else opts.add)(opt)
        return cls(frozenset(opts), name)

    def with_options(self, *add: str, remove: Iterable[str] = ()) -> "Profile":
        return Profile(frozenset((set(self.options) | set(add)) - set(remove)), "custom")

    def has(self, option: str) -> bool:
        return option in self.options

    # descriptions -----------------------------------------------------------
    def method_codes(self) -> list:
        """[(code, meaning)] for DeidentificationMethodCodeSequence: 113100 + options."""
        codes = [BASIC_CODE]
        for opt in sorted(self.options, key=lambda o: OPTIONS[o][0]):
            codes.append(OPTIONS[opt][:2])
        return codes

    # compilation ------------------------------------------------------------
    def resolve_code(self, basic: str, row_options: dict) -> str:
        """Final Table E.1-1 code for a row: claimed options override basic; K beats C."""
        claimed = [row_options[OPTIONS[o][2]] for o in self.options
                   if OPTIONS[o][2] and OPTIONS[o][2] in row_options]
        if "K" in claimed:
            code = "K"
        elif claimed:
            code = claimed[0]
        else:
            code = basic
        return COMPOUND.get(code, code)

    def compile(self, table: ConfidentialityTable | None = None) -> "CompiledProfile":
        table = table or load_table()
        actions: dict = {}
        curve = overlay = Action.REMOVE
        private = Action.REMOVE
        for row in table.rows:
            code = self.resolve_code(row.basic, row.options)
            act = CODE_TO_ACTION[code]
            if row.tag == PRIVATE_ROW:
                private = act
            elif row.tag.startswith("(50XX"):
                curve = act if act == Action.REMOVE else Action.KEEP
            elif row.tag.startswith("(60XX"):
                overlay = act if act == Action.REMOVE else Action.KEEP
            else:
                actions[row.tag_int] = act
        for t in SUBJECT_TAGS:
            actions[t] = Action.SUBJECT
        return CompiledProfile(self, table, actions, curve, overlay, private)


@dataclass
class CompiledProfile:
    profile: Profile
    table: ConfidentialityTable
    actions: dict          # tag int -> Action for table rows
    curve_action: int
    overlay_action: int
    private_action: int    # REMOVE, or CLEAN (= Retain Safe Private)
