"""DICOM de-identification engine (PS3.15 Annex E; TCIA option set). Pure Python, no Django."""
from .engine import DeidError, DeidResult, Deidentifier, read_dicom, write_dicom
from .pixels import MaskRule, MaskRules
from .private import SafePrivateDictionary, SafePrivateEntry
from .profile import OPTIONS, TCIA_DEFAULT_OPTIONS, Action, Profile
from .subjects import CallableResolver, Subject, SubjectMap, SubjectResolver
from .table import load_table
from .uids import UIDRemapper

__all__ = [
    "Deidentifier", "DeidResult", "DeidError", "read_dicom", "write_dicom",
    "MaskRule", "MaskRules", "SafePrivateDictionary", "SafePrivateEntry",
    "Profile", "OPTIONS", "TCIA_DEFAULT_OPTIONS", "Action",
    "Subject", "SubjectMap", "SubjectResolver", "CallableResolver",
    "load_table", "UIDRemapper",
]
