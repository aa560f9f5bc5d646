"""Posda's round trip of the PHI report: export it as CSV with a disposition column, edit it
offline, upload it back as *proposed* dispositions, preview them, then apply them as marks.

The CSV names each value by `key` (the value's hash of tag path, VR and whole value, stable
across exports); `value` is metaquoted, `<…>`, so stray spaces show and no spreadsheet reads a
value as a formula. On import only `key`, `disposition` and `argument` are read (and `value`, when
present, must still be the key's value): a bad row is listed with its row and column and left
out; every other row is still proposed.
"""
import csv
import io

from django.db import transaction
from django.utils import timezone

from tcia.core.audit import log

from . import services
from .models import PhiImport, PhiMark, PhiProposal, PhiValue

CSV_HEADER = ["key", "element", "vr", "value", "description", "likely_phi", "disposition", "argument", "num_files",
              "num_series", "example_image", "example_path"]
MAX_BYTES = 64 * 1024 * 1024
ALIASES = {"k": "keep", "d": "remove", "delete": "remove", "x": "remove", "h": "hash", "o": "shift", "s": "shift",
           "r": "replace", "substitute": "replace"}  # Posda's private dispositions and short forms
ACTIONS = tuple(a.value for a in PhiMark.Action)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    """A free-text cell a spreadsheet will not run as a formula."""
    return "'" + text if text.startswith(_FORMULA) else text


def metaquote(value: str) -> str:
    return f"<{value}>"


def unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text.startswith("<") and text.endswith(">") else text


def csv_rows(qs):
    yield CSV_HEADER
    for v in qs.order_by("tag_path", "id").iterator(chunk_size=5000):
        yield [v.value_hash, v.tag_path, v.vr, metaquote(v.value), _cell(v.keyword), v.phi_kinds, v.disposition,
               _cell(v.disposition_arg), v.file_count, v.series_count, v.example_image_id or "", _cell(v.example_path)]


class ImportError_(ValueError):
    """The file as a whole cannot be read (the message says why)."""


def read_import(*, collection, data: bytes, filename: str, actor) -> PhiImport:
    """Read an edited CSV into proposals (nothing is marked yet). Raises ImportError_ when the
    file as a whole is unusable; bad rows are recorded on the import with row and column."""
    if len(data) > MAX_BYTES:
        raise ImportError_(f"{filename}: {len(data)} bytes is over the limit of {MAX_BYTES} bytes.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportError_(f"{filename}: not UTF-8 text (byte {exc.start + 1}); save the sheet as CSV UTF-8.") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ImportError_(f"{filename}: the file is empty.") from None
    except csv.Error:
        raise ImportError_(f"{filename}: row 1 is not CSV.") from None
    missing = [c for c in ("key", "disposition") if c not in header]
    if missing:
        raise ImportError_(f"{filename}: row 1 (the header) has no {' and no '.join(repr(c) for c in missing)} column; "
                           "export the report again and edit that file.")
    col = {name: header.index(name) for name in ("key", "disposition", "argument", "value") if name in header}
    errors, wanted, n, blank = [], [], 0, 0

    def cell(record, name):
        i = col.get(name)
        return record[i] if i is not None and i < len(record) else ""

    row = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error:
            errors.append({"row": row + 1, "column": "", "message": "not CSV (an unclosed quote?); the rest of the file was not read"})
            break
        row += 1
        if not any(c.strip() for c in record):
            continue
        n += 1
        key = cell(record, "key").strip()
        disposition = cell(record, "disposition").strip().lower()
        argument = cell(record, "argument").strip()
        if argument.startswith("'") and argument[1:2] in _FORMULA:
            argument = argument[1:]
        if not key:
            errors.append({"row": row, "column": "key", "message": "empty: every row needs the key it was exported with"})
            continue
        if not disposition:
            blank += 1
            continue
        action = ALIASES.get(disposition, disposition)
        if action not in ACTIONS:
            errors.append({"row": row, "column": "disposition",
                           "message": f"{disposition[:40]!r} is not one of {', '.join(ACTIONS)} (or k, d, h, o)"})
            continue
        if action == "shift":
            try:
                int(argument)
            except ValueError:
                errors.append({"row": row, "column": "argument",
                               "message": f"shift needs a whole number of days, not {argument[:40]!r}"})
                continue
        if action == "replace" and not argument:
            errors.append({"row": row, "column": "argument", "message": "replace needs the replacement text"})
            continue
        if len(argument) > 200:
            errors.append({"row": row, "column": "argument", "message": f"{len(argument)} characters; at most 200"})
            continue
        wanted.append((row, key, action, argument, "value" in col, unquote(cell(record, "value"))))
    values = {}
    keys = [w[1] for w in wanted]
    for i in range(0, len(keys), 500):
        for v in PhiValue.objects.filter(collection=collection, value_hash__in=keys[i:i + 500]):
            values[v.value_hash] = v
    proposals, seen = [], {}
    unchanged = 0
    for row, key, action, argument, has_value, text in wanted:
        v = values.get(key)
        if v is None:
            errors.append({"row": row, "column": "key", "message": "no value of this collection's report has this key"})
            continue
        if key in seen:
            errors.append({"row": row, "column": "key", "message": f"the same value as row {seen[key]}"})
            continue
        seen[key] = row
        if not (v.present and not v.own_uid):
            errors.append({"row": row, "column": "key", "message": "this value is no longer in any file (changed since the export)"})
            continue
        if has_value and text != v.value:
            errors.append({"row": row, "column": "value",
                           "message": "differs from the report's value for this key; edit only disposition and argument"})
            continue
        if (action, argument) == (v.disposition, v.disposition_arg):
            unchanged += 1
            continue
        proposals.append(PhiProposal(value=v, row=row, action=action, argument=argument, previous=v.disposition,
                                     previous_arg=v.disposition_arg))
    errors.sort(key=lambda e: e["row"])
    with transaction.atomic():
        phi_import = PhiImport.objects.create(collection=collection, actor=actor, filename=filename[:200], rows=n,
                                              unchanged=unchanged, blank=blank, errors=errors[:1000])
        for p in proposals:
            p.phi_import = phi_import
        PhiProposal.objects.bulk_create(proposals, batch_size=1000)
        log("phi.csv_imported", actor=actor, obj=collection, filename=filename[:200], rows=n, proposed=len(proposals),
            unchanged=unchanged, errors=len(errors), phi_import=phi_import.pk)
    return phi_import


def apply_import(*, phi_import: PhiImport, actor, reason: str = "") -> int:
    """Record the import's proposals as marks (append-only, audited); returns how many."""
    with transaction.atomic():
        locked = PhiImport.objects.select_for_update().get(pk=phi_import.pk)
        if locked.state != PhiImport.State.PROPOSED:
            raise ValueError(f"This import was {locked.get_state_display().lower()} already.")
        groups: dict = {}
        for p in locked.proposals.select_related("value").filter(value__present=True):
            groups.setdefault((p.action, p.argument), []).append(p.value)
        why = f"CSV import #{locked.pk} ({locked.filename})" + (f": {reason}" if reason else "")
        n = sum(services.mark(values=values, action=action, argument=argument, actor=actor, reason=why)
                for (action, argument), values in groups.items())
        PhiImport.objects.filter(pk=locked.pk).update(state=PhiImport.State.APPLIED, decided_at=timezone.now(),
                                                      decided_by=actor)
    return n


def discard_import(*, phi_import: PhiImport, actor) -> None:
    updated = PhiImport.objects.filter(pk=phi_import.pk, state=PhiImport.State.PROPOSED).update(
        state=PhiImport.State.DISCARDED, decided_at=timezone.now(), decided_by=actor)
    if not updated:
        raise ValueError("This import was decided already.")
    log("phi.csv_import_discarded", actor=actor, obj=phi_import.collection, phi_import=phi_import.pk)


