"""Correction specs: JSON a finding proposes (or a curator writes) that a task can run through
the corrections primitive (`curation.services.corrections`).

A spec is {"op": ..., image selection, op arguments}:

* ``set``      path, value            set an element (keyword, "(gggg,eeee)" or a nested tag path)
* ``delete``   path                   remove it
* ``replace``  from, to [, paths]     replace a value wherever it occurs (any UI/text element; used
                                       to repoint a reference)
* ``fix_vr``   path                   rewrite a top-level element with its data dictionary VR
* ``batch``    specs: [spec, ...]     several specs as one correction (each on its own images)
* ``new_uid``                         give each image a new SOP Instance UID under our UID root
* ``use_received``, ``conflict``       switch the image to a conflicting file received later
* ``phi``      rules: [{path, vr, value, action: remove|replace|shift|hash, arg}]

Images: ``images`` (list of Image pks) or ``select`` {"scope": collection|subject|study|series|image, "pk": n}.
Paths accept "[*]" for every item of a sequence, and private tags as (gggg,"CREATOR",bb).
"""
import datetime as dt
import hashlib
import re

from django.conf import settings
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.multival import MultiValue

from collections_app.models import Image

_TOKEN = re.compile(
    r'\((?P<g>[0-9A-Fa-f]{4}),(?:"(?P<c>[^"]*)",(?P<b>[0-9A-Fa-f]{2})|(?P<e>[0-9A-Fa-f]{4}))\)(?:\[(?P<i>\*|\d+)\])?'
)


def value_text(value) -> str:
    """One string per element value, as the PHI report shows it (multi-values joined by '\\')."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join(value_text(v) for v in value)
    return str(value)


def parse_path(path: str) -> list[dict]:
    path = path.strip()
    if not path.startswith("("):
        tag = tag_for_keyword(path)
        if tag is None:
            raise ValueError(f"unknown attribute {path!r}")
        return [{"tag": tag, "index": None}]
    tokens, pos = [], 0
    for m in _TOKEN.finditer(path):
        if m.start() != pos:
            break
        pos = m.end()
        group = int(m["g"], 16)
        if m["c"] is not None:
            tokens.append({"group": group, "creator": m["c"], "byte": int(m["b"], 16), "index": m["i"]})
        else:
            tokens.append({"tag": (group << 16) | int(m["e"], 16), "index": m["i"]})
    if pos != len(path) or not tokens:
        raise ValueError(f"not a tag path: {path!r}")
    return tokens


def _resolve(ds, token):
    if "tag" in token:
        return token["tag"]
    group = token["group"]
    for el in range(0x10, 0x100):
        creator_tag = (group << 16) | el
        if creator_tag in ds._dict:
            if str(ds[creator_tag].value).strip() == token["creator"].strip():
                return (group << 16) | (el << 8) | token["byte"]
    return None


def find_elements(ds, tokens):
    """Yield (dataset, tag) for every element at the path (the element may not exist yet only
    when the path is a single public tag)."""
    token, rest = tokens[0], tokens[1:]
    tag = _resolve(ds, token)
    if tag is None:
        return
    if not rest:
        if tag in ds._dict or "creator" not in token:
            yield ds, tag
        return
    if tag not in ds._dict:
        return
    items = ds[tag].value or []
    idx = token["index"]
    chosen = items if idx in (None, "*") else ([items[int(idx)]] if int(idx) < len(items) else [])
    for item in chosen:
        yield from find_elements(item, rest)


def _path_label(path):
    return path


def shift_date(value: str, days: int) -> str:
    text = str(value)
    if len(text) < 8 or not text[:8].isdigit():
        return text
    d = dt.date(int(text[:4]), int(text[4:6]), int(text[6:8])) + dt.timedelta(days=int(days))
    return d.strftime("%Y%m%d") + text[8:]


def hash_value(value: str, vr: str) -> str:
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:{value}".encode()).hexdigest()
    if vr == "UI":
        return f"{settings.TCIA_UID_ROOT}.{int(digest, 16)}"[:64].rstrip(".")
    return digest[:16]


def new_uid(seed: str) -> str:
    digest = hashlib.sha256(f"new-uid:{seed}".encode()).hexdigest()
    return f"{settings.TCIA_UID_ROOT}.{int(digest, 16)}"[:64].rstrip(".")


def _set(ds, tag, value, changes, label):
    from curation.services.corrections import Change

    old = value_text(ds[tag].value) if tag in ds._dict else ""
    if tag in ds._dict:
        if old == value:
            return
        elem = ds[tag]
        elem.value = value.split("\\") if "\\" in value and elem.VR not in ("LT", "ST", "UT") else value
    else:
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            vr = "LO"
        ds.add(DataElement(tag, vr, value))
    changes.append(Change(label, old, value))


def _fix_vr(ds, tag, changes, label):
    """Re-create the element with the dictionary's VR, keeping its value (as text)."""
    from curation.services.corrections import Change

    if tag not in ds._dict:
        return
    elem = ds[tag]
    vr = dictionary_VR(tag)
    if elem.VR == vr:
        return
    text = value_text(elem.value).strip()
    try:
        new = DataElement(tag, vr, text.split("\\") if "\\" in text else text, validation_mode=2)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{label}: the value cannot be written as {vr}") from exc
    del ds[tag]
    ds.add(new)
    changes.append(Change(f"{label} VR", elem.VR, vr))


def build_mutation(spec: dict):
    """The mutation function (ds, image) -> [Change] for a spec."""
    from curation.services.corrections import Change

    op = spec.get("op")
    if op == "batch":
        parts = [(build_mutation(sub), set(sub.get("images") or [])) for sub in spec.get("specs") or []]
        if not parts or any(not images for _, images in parts):
            raise ValueError("a batch needs specs, each with its images")

        def mutate(ds, image):
            changes = []
            for part, images in parts:
                if image.pk in images:
                    changes.extend(part(ds, image))
            return changes

        return mutate
    if op == "fix_vr":
        tokens = parse_path(spec["path"])
        if len(tokens) != 1 or "tag" not in tokens[0]:
            raise ValueError("fix_vr takes a top-level public attribute")
        tag = tokens[0]["tag"]

        def mutate(ds, image):
            changes = []
            _fix_vr(ds, tag, changes, spec["path"])
            return changes

        return mutate
    if op in ("set", "delete"):
        tokens = parse_path(spec["path"])
        label = spec["path"]

        def mutate(ds, image):
            changes = []
            for parent, tag in list(find_elements(ds, tokens)):
                if op == "set":
                    _set(parent, tag, str(spec.get("value", "")), changes, label)
                elif tag in parent._dict:
                    changes.append(Change(label, value_text(parent[tag].value), "(removed)"))
                    del parent[tag]
            return changes

        return mutate
    if op == "replace":
        pairs = {str(a): str(b) for a, b in (spec.get("pairs") or [[spec["from"], spec["to"]]])}

        def mutate(ds, image):
            changes = []

            def walk(d, prefix):
                for elem in list(d):
                    label = f"{prefix}({elem.tag.group:04X},{elem.tag.element:04X})"
                    if elem.VR == "SQ":
                        for i, item in enumerate(elem.value):
                            walk(item, f"{label}[{i}]")
                    elif isinstance(elem.value, str) and elem.value.strip("\x00 ") in pairs:
                        old_value = elem.value.strip("\x00 ")
                        elem.value = pairs[old_value]
                        changes.append(Change(label, old_value, pairs[old_value]))

            walk(ds, "")
            return changes

        return mutate
    if op == "new_uid":
        def mutate(ds, image):
            old = str(ds.SOPInstanceUID)
            uid = new_uid(f"{old}:{image.pk}:{image.stored_file_id}")
            ds.SOPInstanceUID = uid
            if getattr(ds, "file_meta", None) is not None:
                ds.file_meta.MediaStorageSOPInstanceUID = uid
            return [Change("SOPInstanceUID", old, uid)]

        return mutate
    if op == "use_received":
        def mutate(ds, image):
            from curation.models import ConflictingFile
            from curation.services.corrections import Change, read_stored_dataset

            conflict = ConflictingFile.objects.select_related("stored_file").get(pk=spec["conflict"], image=image)
            received = read_stored_dataset(conflict.stored_file)
            changes = [Change(name, "(indexed file)", "(received file)") for name in conflict.differences]
            # The image takes the received dataset whole; its bytes were de-identified on intake.
            ds.clear()
            ds.update(received)
            ds.file_meta = received.file_meta
            ds.preamble = received.preamble
            return changes

        return mutate
    if op == "phi":
        rules = [dict(r, tokens=parse_path(r["path"].replace("[*]", "[*]"))) for r in spec["rules"]]

        def mutate(ds, image):
            changes = []
            for rule in rules:
                for parent, tag in list(find_elements(ds, rule["tokens"])):
                    if tag not in parent._dict:
                        continue
                    current = value_text(parent[tag].value)
                    if current != rule["value"]:
                        continue
                    action = rule["action"]
                    if action == "remove":
                        del parent[tag]
                        changes.append(Change(rule["path"], current, "(removed)"))
                        continue
                    if action == "replace":
                        new = str(rule.get("arg") or "")
                    elif action == "shift":
                        new = "\\".join(shift_date(v, int(rule.get("arg") or 0)) for v in current.split("\\"))
                    elif action == "hash":
                        new = hash_value(current, parent[tag].VR)
                    else:
                        continue
                    _set(parent, tag, new, changes, rule["path"])
            return changes

        return mutate
    raise ValueError(f"unknown correction op {op!r}")


def select_images(collection, spec: dict):
    qs = Image.objects.filter(series__collection=collection).select_related("stored_file", "series")
    if spec.get("op") == "batch":
        return qs.filter(pk__in={pk for sub in spec.get("specs") or [] for pk in sub.get("images") or []}).order_by("pk")
    if spec.get("images") is not None:
        return qs.filter(pk__in=spec["images"]).order_by("pk")
    sel = spec.get("select") or {"scope": "collection"}
    scope, pk = sel.get("scope"), sel.get("pk")
    if scope == "collection":
        return qs.order_by("pk")
    field = {"subject": "series__subject_id", "study": "series__study_id", "series": "series_id", "image": "pk"}.get(scope)
    if field is None:
        raise ValueError(f"unknown scope {scope!r}")
    return qs.filter(**{field: pk}).order_by("pk")


def describe(spec: dict) -> str:
    op = spec.get("op")
    if op == "set":
        return f"{spec['path']} := {spec.get('value', '')!r}"
    if op == "delete":
        return f"remove {spec['path']}"
    if op == "replace":
        pairs = spec.get("pairs") or [[spec["from"], spec["to"]]]
        return "; ".join(f"replace {a} → {b}" for a, b in pairs)
    if op == "new_uid":
        return "new SOP Instance UID"
    if op == "fix_vr":
        return f"{spec['path']}: dictionary VR"
    if op == "batch":
        return f"{len(spec.get('specs') or [])} fixes: " + "; ".join(describe(sub) for sub in spec["specs"][:5])[:250]
    if op == "use_received":
        return "use the file received later"
    if op == "phi":
        return "; ".join(f"{r['path']} {r['action']}" for r in spec["rules"])[:250]
    return op or "?"
