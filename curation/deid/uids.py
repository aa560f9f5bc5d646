"""Deterministic UID remapping: ``root + "." + decimal(HMAC-SHA256(key, uid))``.

The key is the secret itself, or, with a namespace (each collection has one), a key derived
from both: ``HMAC-SHA256(secret, "uid-namespace:" + namespace)``. The same original UID then
maps to a different new UID in every namespace, and to the same one every time within it.
"""
from __future__ import annotations

import hashlib
import hmac
import re

from pydicom._uid_dict import UID_dictionary

_ROOT_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
DICOM_ROOT = "1.2.840.10008."
MAX_ROOT_LEN = 44  # leaves >= 19 hash digits (> 63 bits) within the 64-char UID limit


class UIDRemapper:
    """Maps original UIDs to new ones under ``root``; same input -> same output.

    Kept unchanged: empty values, UIDs already under ``root``, standard DICOM
    UIDs (``1.2.840.10008.*``, which includes every SOP Class, Transfer Syntax
    and well-known instance UID of pydicom's UID dictionary).
    """

    def __init__(self, root: str, secret: bytes, cache_size: int = 200_000, namespace: str = ""):
        root = root.strip().rstrip(".")
        if not _ROOT_RE.match(root) or len(root) > MAX_ROOT_LEN:
            raise ValueError(f"invalid UID root {root!r} (digits and dots, at most {MAX_ROOT_LEN} chars)")
        if isinstance(secret, str):
            secret = secret.encode()
        if not secret:
            raise ValueError("a non-empty secret is required for UID remapping")
        self.root = root
        self._prefix = root + "."
        self._secret = bytes(secret)
        if namespace:
            self._secret = hmac.new(self._secret, b"uid-namespace:" + namespace.encode("utf-8"), hashlib.sha256).digest()
        self.namespace = namespace
        self._cache: dict = {}
        self._cache_size = cache_size

    def is_kept(self, uid: str) -> bool:
        return (not uid or uid.startswith(self._prefix) or uid.startswith(DICOM_ROOT)
                or uid in UID_dictionary)

    def __call__(self, uid: str) -> str:
        r = self._cache.get(uid)
        if r is not None:
            return r
        u = uid.strip(" \x00")
        if self.is_kept(u):
            r = u
        else:
            digest = hmac.new(self._secret, u.encode("ascii", "replace"), hashlib.sha256).digest()
            r = (self._prefix + str(int.from_bytes(digest, "big")))[:64]
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[uid] = r
        return r
