"""Incremental maintenance of the PHI report (the ingest hook) and reading it (keyset pages).

A file's elements come straight from intake or from a correction (curation.hooks); nothing
here opens a DICOM file. A new file leaves one PhiPending row (`enqueue`); `flush` counts
pending files 500 at a time with a handful of set-based statements per batch; readers flush
first. A replaced file's contribution is subtracted from its PhiFile row.
"""
import gc
import hashlib
from dataclasses import dataclass
import json
import marshal
import re
import zlib
from array import array
from collections import Counter

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from pydicom.datadict import keyword_for_tag

from curation.checks.fixes import value_text

from .models import VALUE_ROW, PhiFacet, PhiFile, PhiPending, PhiReportState, PhiSeriesValue, PhiValue

MAX_VALUE = 1024
INDEX = re.compile(r"\[\d+\]")
SKIP = {"(0002,0000)", "(0002,0001)"}  # group length and meta version: bytes with no content
LAST_TAG = re.compile(r'\((?P<g>[0-9A-F]{4}),(?:"(?P<c>[^"]*)",(?P<b>[0-9a-fA-F]{2})|(?P<e>[0-9A-F]{4}))\)$')

DATE_RE = re.compile(r"\b(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\b|\b\d{1,2}[/.-]\d{1,2}[/.-](19|20)?\d{2}\b"
                     r"|\b(19|20)\d{2}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])\b")
PHONE_RE = re.compile(r"(\+?\d{1,2}[\s.-])?\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b")
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
ADDRESS_RE = re.compile(r"\b\d{1,5}\s+\w+(\s\w+)*\s+(street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|way|court|ct)\b",
                        re.I)
ID_RE = re.compile(r"^[A-Za-z]{0,4}[-_]?\d{5,}[A-Za-z]?$")
ID_KEYWORD = re.compile(r"(ID|IDs|Number|Numbers)$")
# a time of day, HH[MM[SS[.F{1,6}]]] (TM's form): kept in TM, and in private or text elements too
TIME_RE = re.compile(r"^([01]\d|2[0-3])([0-5]\d([0-5]\d(\.\d{1,6})?)?)?$")
# a person: "Last^First" (PN's form) or a title and a capitalised word, in free text
PERSON_RE = re.compile(r"\b[A-Za-z][A-Za-z'-]+\^[A-Za-z][A-Za-z'-]*|\b(Dr|Mr|Mrs|Ms|Prof)\.?\s+[A-Z][a-z]+")
# attributes that name a person (StationName, ManufacturerModelName, ProtocolName… name things)
PERSON_KEYWORD = re.compile(r"(Physician|Operator|Person|Patient|Reviewer|Author|Reader|Requester|Mother|Birth)\w*Names?$")
NUMERIC_VRS = frozenset(("UI", "DS", "IS", "FL", "FD", "SL", "SS", "UL", "US", "SV", "UV", "AT", "OB", "OW", "OF", "OD", "OL",
                         "OV"))
FREE_TEXT_VRS = frozenset(("LO", "SH", "LT", "ST", "UT", "UN", "UC"))
NOT_ID_VRS = NUMERIC_VRS | {"TM", "DA", "DT", "AS", "CS"}


def signature(path: str) -> str:
    return INDEX.sub("[*]", path)


def describe_tag(path: str) -> tuple[str, bool, str]:
    """(keyword, is_private, creator) of the last tag of a path."""
    m = LAST_TAG.search(path)
    if not m:
        return "", False, ""
    group = int(m["g"], 16)
    if m["c"] is not None:
        return f'{m["c"]} {m["b"]}', True, m["c"]
    element = int(m["e"], 16)
    if group & 1:
        return ("Private Creator" if element <= 0xFF else "private"), True, ""
    return keyword_for_tag((group << 16) | element) or "", False, ""


def phi_kinds(keyword: str, vr: str, value: str) -> list[str]:
    """Heuristics for "likely PHI" (a curator decides): names, dates, IDs, addresses, phones,
    e-mails. Measured on a labelled set by bench/phi_heuristics.py (tests/phi/data/phi_labels.csv).

    * name: a PN value of letters (one with digits is a subject ID: "id"), an attribute naming a
      person, or "Last^First" / "Dr. Name" in free text; never a device, station or protocol name;
    * date: DA or DT, or a date written in free text; never a time;
    * id: an attribute named …ID/…Number (not a number VR), or a value of a few letters and five or
      more digits; never a time, a date or a code string."""
    text = value.strip()
    if not text:
        return []
    kinds = []
    time_like = vr == "TM" or bool(TIME_RE.match(text))
    if vr == "PN":
        if any(c.isdigit() for c in text):
            kinds.append("id")
        elif any(c.isalpha() for c in text) and text.upper() != "ANONYMIZED":
            kinds.append("name")
    elif vr in FREE_TEXT_VRS and (PERSON_KEYWORD.search(keyword) or PERSON_RE.search(text)):
        kinds.append("name")
    date_like = vr in ("DA", "DT") or (vr in FREE_TEXT_VRS and not time_like and bool(DATE_RE.search(text)))
    if date_like:
        kinds.append("date")
    if vr not in NOT_ID_VRS and "id" not in kinds and not time_like and (
            (ID_KEYWORD.search(keyword) and "Telephone" not in keyword) or (ID_RE.match(text) and not (len(text) == 8 and DATE_RE.match(text)))):
        kinds.append("id")
    if "Address" in keyword or ADDRESS_RE.search(text):
        kinds.append("address")
    if "Telephone" in keyword or (vr not in NUMERIC_VRS and not time_like and PHONE_RE.search(text)):
        kinds.append("phone")
    if EMAIL_RE.search(text):
        kinds.append("email")
    return kinds


_SIGNATURES: dict = {}


def _signature(path: str) -> str:
    """signature() memoised: the same few hundred paths come back in every file."""
    sig = _SIGNATURES.get(path)
    if sig is None:
        sig = signature(path) if "[" in path else path
        if len(_SIGNATURES) < 100_000:
            _SIGNATURES[path] = sig
    return sig


def _plain(text):
    """A str subclass (pydicom's VR enum, say, which marshal refuses) as the str it holds."""
    return text if text is None else str.__str__(text)


def _texts(elements) -> list:
    """[tag path, VR, value text] for a file's reportable elements: what PhiPending stores."""
    out = []
    for path, vr, value in elements:
        if value is None or path in SKIP:
            continue
        text = value if type(value) is str else value_text(value)
        out.append((path if type(path) is str else _plain(path), vr if type(vr) is str else _plain(vr),
                    text if type(text) is str else _plain(text)))
    return out


def _digest(sig, vr, text) -> str:
    return hashlib.sha1(f"{sig}\x00{vr}\x00{text}".encode("utf-8", "surrogateescape")).hexdigest()


def _rows(elements):
    """{value_hash: (sig, vr, text, concrete path, own uid)} for a file's elements."""
    root = settings.TCIA_UID_ROOT + "."
    rows = {}
    for path, vr, text in _texts(elements):
        sig = _signature(path)
        digest = _digest(sig, vr, text)
        if digest not in rows:
            rows[digest] = (sig, vr, text, path, vr == "UI" and text.startswith(root))
    return rows


def _pack(ids) -> bytes:
    return array("q", sorted(ids)).tobytes()


def _unpack(data) -> list[int]:
    a = array("q")
    a.frombytes(bytes(data))
    return a.tolist()


def _facet_delta(collection_id, values, sign):
    """Adjust PhiFacet counts for values that appeared (+1) or disappeared (-1)."""
    counts = Counter((v.vr, v.is_private, v.likely_phi, v.own_uid) for v in values)
    for (vr, private, likely, own), n in counts.items():
        updated = PhiFacet.objects.filter(collection_id=collection_id, vr=vr, is_private=private, likely_phi=likely,
                                          own_uid=own).update(values=F("values") + sign * n)
        if not updated:
            PhiFacet.objects.create(collection_id=collection_id, vr=vr, is_private=private, likely_phi=likely, own_uid=own,
                                    values=max(sign * n, 0))


def _bump(ids, series_ids, sign):
    """file_count += sign for `ids`, series_count += sign for those in `series_ids`: one statement."""
    table = PhiValue._meta.db_table
    present = ", present = true" if sign > 0 else ""
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(f"UPDATE {table} SET file_count = file_count + %s, "
                        f"series_count = series_count + CASE WHEN id = ANY(%s) THEN %s ELSE 0 END{present} "
                        "WHERE id = ANY(%s)", [sign, list(series_ids), sign, ids])
        else:
            marks = ",".join(str(int(i)) for i in ids)  # integers from our own query: safe to inline
            smarks = ",".join(str(int(i)) for i in series_ids) or "NULL"
            cur.execute(f"UPDATE {table} SET file_count = file_count + %s, "
                        f"series_count = series_count + CASE WHEN id IN ({smarks}) THEN %s ELSE 0 END{present} "
                        f"WHERE id IN ({marks})", [sign, sign])


FLUSH_FILES = 500  # pending files counted per transaction (and how often intake flushes)
_PENDING: dict = {}  # files this process enqueued since its last flush, per collection (a trigger only)
CHUNK = 400  # values per statement: well under SQLite's and PostgreSQL's parameter limits
_VALUE_COLUMNS = ("collection_id", "tag_path", "vr", "value", "value_hash", "keyword", "is_private", "creator",
                  "file_count", "series_count", "present", "own_uid", "likely_phi", "phi_kinds", "example_image_id",
                  "example_path", "disposition", "disposition_arg")
_VALUE_TYPES = ("bigint", "text", "text", "text", "text", "text", "bool", "text", "int", "int", "bool", "bool", "bool", "text",
                "bigint", "text", "text", "text")
_RETURNING = "value_hash, id, file_count, series_count, vr, is_private, likely_phi, own_uid"


def _chunks(seq, n=CHUNK):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _marks(n: int) -> str:
    return ", ".join(["%s"] * n)


def _rows_source(rows, types) -> tuple[str, list]:
    """Rows for an INSERT: `SELECT * FROM unnest(array, …)` on PostgreSQL (one parameter per
    column: short SQL, cheap to bind and parse), `VALUES (…), …` elsewhere."""
    if connection.vendor == "postgresql":
        columns = [list(c) for c in zip(*rows)]
        return "SELECT * FROM unnest(" + ", ".join(f"%s::{t}[]" for t in types) + ")", columns
    one = "(" + _marks(len(types)) + ")"
    return "VALUES " + ", ".join([one] * len(rows)), [x for row in rows for x in row]


def _in(column: str, values) -> tuple[str, list]:
    """`column IN (…)` for a list of values: one array parameter on PostgreSQL (short SQL text,
    cheap to parse and plan), a parameter per value elsewhere."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(values)]
    return f"{column} IN ({_marks(len(values))})", list(values)


def _new_value_params(collection_id, image_id, h, key, path, files, series, root):
    sig, vr, text = key
    own = vr == "UI" and text.startswith(root)
    keyword, private, creator = describe_tag(sig)
    kinds = [] if own else phi_kinds(keyword, vr, text)
    # series_count: the batch's series, whose (value, series) rows follow as plain inserts (a row
    # that was there after all keeps its count: the conflict clause does not touch it)
    return [collection_id, sig[:400], vr or "UN", text[:MAX_VALUE], h, keyword[:100], private, creator[:64], files, series,
            True, own, bool(kinds), ",".join(kinds), image_id, path[:400], "", ""]


ROWS_MARSHAL = b"M"


def _pack_rows(texts) -> bytes:
    """A pending file's [tag path, VR, text] rows as stored: marshal (a format tag, then
    marshal.dumps, version 4). A tenth of JSON + zlib's cost both ways (~0.15 ms a file, 5-6 KB
    uncompressed; the rows live until the next flush). Only this module writes these rows and
    only it reads them back, from our own database."""
    return ROWS_MARSHAL + marshal.dumps(texts, 4)


def _unpack_rows(payload) -> list:
    """The rows _pack_rows stored, or zlib-compressed JSON (what pending rows held before)."""
    data = bytes(payload)
    if data[:1] == ROWS_MARSHAL:
        return marshal.loads(data[1:])
    return json.loads(zlib.decompress(data))


def enqueue(*, collection_id, stored_file_id, series_id, image_id, elements, note: str = "") -> None:
    """Keep a received file's values for the next flush: one INSERT, in the caller's transaction."""
    enqueue_many(collection_id, [(stored_file_id, series_id, image_id, elements, note)])


def enqueue_many(collection_id, files) -> None:
    """Keep many files' values, (stored_file_id, series_id, image_id, elements, note) each: one
    INSERT for all of them, in the caller's transaction; a flush once FLUSH_FILES are waiting."""
    if not files:
        return
    rows = [[collection_id, stored_file_id, series_id, image_id,
             _pack_rows(_texts(elements)), note[:300]]
            for stored_file_id, series_id, image_id, elements, note in files]
    table = PhiPending._meta.db_table
    with connection.cursor() as cur:
        cur.executemany(f"INSERT INTO {table} (collection_id, stored_file_id, series_id, image_id, rows, note) "
                        "VALUES (%s, %s, %s, %s, %s, %s)", rows)
    if _PENDING.get(collection_id, 0) + len(files) >= FLUSH_FILES:
        flush(collection_id)  # inside the caller's transaction: a rollback takes the counts back too
    else:
        _PENDING[collection_id] = _PENDING.get(collection_id, 0) + len(files)


def add_file(*, collection_id, stored_file_id, series_id, image_id, elements, note: str = "") -> None:
    """Count one file's values now (enqueue + flush)."""
    enqueue(collection_id=collection_id, stored_file_id=stored_file_id, series_id=series_id, image_id=image_id,
            elements=elements, note=note)
    flush(collection_id)


def flush(collection_id) -> int:
    """Count every pending file of the collection, FLUSH_FILES at a time. Returns how many files
    were counted. Cheap when nothing is pending (one query); every reader of the report calls it."""
    _PENDING.pop(collection_id, None)
    counted = 0
    while True:
        n, more = _flush_some(collection_id)
        counted += n
        if not more:
            return counted


def _flush_some(collection_id) -> tuple[int, bool]:
    """Apply up to FLUSH_FILES pending files in one transaction, with a fixed handful of
    set-based statements however many files share each value:

    1. look up the batch's distinct values; insert the new ones (file_count = their files in the
       batch); add the batch's file counts to the known ones, grouped by count;
    2. (value, series) rows: a new value's inserted (its series_count came with it); a known value's
       upserted, files + n, and a row that is new adds 1 to the value's series_count;
    3. values that were absent and are back: present again; facets for every value that appeared;
    4. one PhiFile row per file (for exact subtraction later); the pending rows go; one
       generation bump for the sign-off.
    Files counted already (PhiFile exists: a hook run twice for the same bytes) are skipped.
    """
    pending_t = PhiPending._meta.db_table
    file_t = PhiFile._meta.db_table
    value_t = PhiValue._meta.db_table
    series_t = PhiSeriesValue._meta.db_table
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"SELECT id FROM {pending_t} WHERE collection_id = %s ORDER BY id LIMIT 1", [collection_id])
        if cur.fetchone() is None:
            return 0, False
        if connection.vendor == "postgresql":  # one flusher per collection at a time (no deadlocks, no double count)
            PhiReportState.objects.get_or_create(collection_id=collection_id)
            cur.execute(f"SELECT 1 FROM {PhiReportState._meta.db_table} WHERE collection_id = %s FOR UPDATE", [collection_id])
        cur.execute(f"SELECT id, stored_file_id, series_id, image_id, rows, note FROM {pending_t} "
                    f"WHERE collection_id = %s ORDER BY id LIMIT %s", [collection_id, FLUSH_FILES + 1])
        pending = cur.fetchall()
        more = len(pending) > FLUSH_FILES
        pending = pending[:FLUSH_FILES]
        if not pending:
            return 0, False
        done = set()
        for chunk in _chunks(sorted({p[1] for p in pending})):
            cond, params = _in("stored_file_id", chunk)
            cur.execute(f"SELECT stored_file_id FROM {file_t} WHERE collection_id = %s AND {cond}", [collection_id, *params])
            done.update(r[0] for r in cur.fetchall())
        agg, files = _aggregate(pending, done)
        hashes = {key: _digest(*key) for key in agg}
        by_hash = {h: key for key, h in hashes.items()}
        ids: dict = {}  # key -> value id
        appeared = []   # (id, vr, private, likely, own, present) of values whose file_count left 0
        known = set()   # ids of values the report had before this batch
        for chunk in _chunks(list(by_hash)):
            cond, params = _in("value_hash", chunk)
            cur.execute(f"SELECT value_hash, id FROM {value_t} WHERE collection_id = %s AND {cond}", [collection_id, *params])
            for h, vid in cur.fetchall():
                ids[by_hash[h]] = vid
                known.add(vid)
        # 1. new values, inserted with their batch counts
        root = settings.TCIA_UID_ROOT + "."
        missing = [key for key in agg if key not in ids]
        fresh = set()  # values this batch inserted: every (value, series) row of theirs is new
        for chunk in _chunks(missing, 200):
            rows = [_new_value_params(collection_id, agg[key][2], hashes[key], key, agg[key][1], agg[key][0],
                                      len(agg[key][3]), root) for key in chunk]
            rows_sql, params = _rows_source(rows, _VALUE_TYPES)
            cur.execute(f"INSERT INTO {value_t} ({', '.join(_VALUE_COLUMNS)}) {rows_sql} "
                        f"ON CONFLICT (collection_id, value_hash) DO UPDATE SET file_count = {value_t}.file_count "
                        f"+ excluded.file_count, present = %s RETURNING {_RETURNING}", [*params, True])
            for h, vid, fc, sc, vr, private, likely, own in cur.fetchall():
                key = by_hash[h]
                ids[key] = vid
                if fc == agg[key][0]:
                    appeared.append((vid, vr, private, likely, own, True))
                    if sc == len(agg[key][3]):
                        fresh.add(vid)  # (a row found there after all has its own series_count)
        # known values: file_count + n, one statement per distinct n
        by_n: dict = {}
        for key, vid in ids.items():
            if vid in known:
                by_n.setdefault(agg[key][0], []).append(vid)
        for n, vids in by_n.items():
            for chunk in _chunks(vids):
                cond, params = _in("id", chunk)
                cur.execute(f"UPDATE {value_t} SET file_count = file_count + %s WHERE {cond} "
                            "RETURNING id, file_count, present, vr, is_private, likely_phi, own_uid", [n, *params])
                for vid, fc, present, vr, private, likely, own in cur.fetchall():
                    if fc == n:
                        appeared.append((vid, vr, private, likely, own, present))
        # 2. (value, series) rows: a new value's are all new (inserted, nothing to read back); a
        # known value's are upserted, and one that is new adds 1 to its series_count
        tail = _Tail(cur)
        pairs, new_pairs = [], []
        for key, a in agg.items():
            vid = ids[key]
            (new_pairs if vid in fresh else pairs).extend((vid, sid, k) for sid, k in a[3].items())
        for chunk in _chunks(new_pairs):
            rows_sql, params = _rows_source(chunk, ("bigint", "bigint", "int"))
            tail.add(f"INSERT INTO {series_t} (value_id, series_id, files) {rows_sql}", params)
        wanted = {(vid, sid): k for vid, sid, k in pairs}
        new_series = Counter()
        for chunk in _chunks(pairs):
            rows_sql, params = _rows_source(chunk, ("bigint", "bigint", "int"))
            cur.execute(f"INSERT INTO {series_t} (value_id, series_id, files) {rows_sql} "
                        f"ON CONFLICT (series_id, value_id) DO UPDATE SET files = {series_t}.files + excluded.files "
                        "RETURNING value_id, series_id, files", params)
            for vid, sid, files_now in cur.fetchall():
                if files_now == wanted[(vid, sid)]:
                    new_series[vid] += 1
        by_s: dict = {}
        for vid, n in new_series.items():
            by_s.setdefault(n, []).append(vid)
        for n, vids in by_s.items():
            for chunk in _chunks(vids):
                cond, params = _in("id", chunk)
                tail.add(f"UPDATE {value_t} SET series_count = series_count + %s WHERE {cond}", [n, *params])
        # 3. absent values that are back; facets
        back = [a[0] for a in appeared if not a[5]]
        for chunk in _chunks(back):
            cond, params = _in("id", chunk)
            tail.add(f"UPDATE {value_t} SET present = %s WHERE {cond}", [True, *params])
        counts = Counter((vr, private, likely, own) for _vid, vr, private, likely, own, _p in appeared)
        if counts:
            tail.add(*_facet_add(collection_id, counts))
        # 4. PhiFile rows, pending rows gone
        for chunk in _chunks(files, 200):
            params = []
            for stored_file_id, series_id, keys in chunk:
                params.extend([collection_id, stored_file_id, series_id, _pack({ids[k] for k in keys})])
            tail.add(f"INSERT INTO {file_t} (collection_id, stored_file_id, series_id, value_ids) "
                     f"VALUES {', '.join(['(%s, %s, %s, %s)'] * len(chunk))}", params)
        for chunk in _chunks([p[0] for p in pending]):
            cond, params = _in("id", chunk)
            tail.add(f"DELETE FROM {pending_t} WHERE {cond}", params)
        tail.flush()
        if files:
            note = pending[0][5] or "new files"
            others = len(files) - 1
            note_change(collection_id, note + (f" and {others} more file{'s' if others > 1 else ''}" if others else ""))
    return len(files), more


def _aggregate(pending, done):
    """The batch's values in memory: ({(signature, VR, text): [files, path, image, {series: files}]},
    [(stored_file_id, series_id, keys)]). The cyclic garbage collector is paused meanwhile: the
    parse allocates ~10^5 containers that all stay alive, so its passes would find nothing and,
    over a growing heap, cost more than the parse itself."""
    agg: dict = {}
    files = []
    paused = gc.isenabled()
    gc.disable()
    try:
        for _pid, stored_file_id, series_id, image_id, payload, _note in pending:
            if stored_file_id in done:
                continue
            done.add(stored_file_id)
            keys = {}
            for path, vr, text in _unpack_rows(payload):
                key = (_signature(path), vr, text)
                if key in keys:
                    continue  # a value counts once per file
                a = agg.get(key)
                if a is None:
                    agg[key] = a = [0, path, image_id, {}]
                keys[key] = None
                a[0] += 1
                a[3][series_id] = a[3].get(series_id, 0) + 1
            files.append((stored_file_id, series_id, keys))
    finally:
        if paused:
            gc.enable()
    return agg, files


class _Tail:
    """Statements whose results are not read. On PostgreSQL with client-side parameter binding
    (Django's default psycopg cursor) they go in one round trip; elsewhere one by one."""

    def __init__(self, cur):
        self.cur, self.sql, self.params = cur, [], []
        inner = getattr(cur, "cursor", None)
        self.join = connection.vendor == "postgresql" and any(
            c.__name__ == "ClientCursor" for c in type(inner).__mro__)

    def add(self, sql, params):
        if self.join:
            self.sql.append(sql)
            self.params.extend(params)
        else:
            self.cur.execute(sql, params)

    def flush(self):
        if self.sql:
            self.cur.execute(";\n".join(self.sql), self.params)
            self.sql, self.params = [], []


def _facet_add(collection_id, counts):
    """PhiFacet.values += n for each (VR, private, likely, own) that gained n present values: one
    upsert, returned as (sql, params)."""
    table = PhiFacet._meta.db_table
    col = connection.ops.quote_name("values")
    params = []
    for (vr, private, likely, own), n in counts.items():
        params.extend([collection_id, vr, bool(private), bool(likely), bool(own), n])
    return (f"INSERT INTO {table} (collection_id, vr, is_private, likely_phi, own_uid, {col}) "
            f"VALUES {', '.join(['(%s, %s, %s, %s, %s, %s)'] * len(counts))} "
            f"ON CONFLICT (collection_id, vr, is_private, likely_phi, own_uid) "
            f"DO UPDATE SET {col} = {table}.{col} + excluded.{col}", params)


def remove_file(*, collection_id, stored_file_id):
    record = PhiFile.objects.filter(collection_id=collection_id, stored_file_id=stored_file_id).first()
    if record is None:
        return
    ids = _unpack(record.value_ids)
    series_id = record.series_id
    PhiSeriesValue.objects.filter(series_id=series_id, value_id__in=ids).update(files=F("files") - 1)
    gone = list(PhiSeriesValue.objects.filter(series_id=series_id, value_id__in=ids, files__lte=0).values_list("value_id", flat=True))
    PhiSeriesValue.objects.filter(series_id=series_id, value_id__in=gone).delete()
    _bump(ids, set(gone), -1)
    vanishing = list(PhiValue.objects.filter(pk__in=ids, file_count__lte=0, present=True).only("vr", "is_private", "likely_phi", "own_uid"))
    if vanishing:
        PhiValue.objects.filter(pk__in=[v.pk for v in vanishing]).update(present=False)
        _facet_delta(collection_id, vanishing, -1)
    record.delete()


def note_change(collection_id, text: str):
    """generation + 1 and what changed (the sign-off compares generations): one UPDATE."""
    now = timezone.now()
    text = text[:300]
    table = PhiReportState._meta.db_table
    stamp = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cur:
        cur.execute(f"UPDATE {table} SET generation = generation + 1, last_change = %s, last_change_at = %s, "
                    "first_change_after_signoff_at = CASE WHEN first_change_after_signoff = '' THEN %s "
                    "ELSE first_change_after_signoff_at END, "
                    "first_change_after_signoff = CASE WHEN first_change_after_signoff = '' THEN %s "
                    "ELSE first_change_after_signoff END "
                    "WHERE collection_id = %s", [text, stamp, stamp, text, collection_id])
        updated = cur.rowcount
    if not updated:
        PhiReportState.objects.get_or_create(collection_id=collection_id, defaults={
            "generation": 1, "last_change": text, "last_change_at": now,
            "first_change_after_signoff": text, "first_change_after_signoff_at": now})


def on_ingest(*, submission=None, image, elements, replaced_file=None, **_):
    """Ingest hook: keep the new file's values for the next flush (intake flushes every
    FLUSH_FILES files and at the end of a batch; readers flush first). A correction's file is
    counted at once and the file it replaces subtracted."""
    collection_id = submission.collection_id if submission is not None else image.series.collection_id
    if replaced_file is not None:
        from curation.models import CorrectionFile

        record = (CorrectionFile.objects.filter(image=image, new_file_id=image.stored_file_id)
                  .select_related("correction").order_by("-id").first())
        what = (f"correction {record.correction_id} ({record.correction.get_kind_display()}: {record.correction.summary[:120]})"
                if record else "a correction")
    else:
        what = f"a new file (SOP Instance UID {image.sop_instance_uid})"
    enqueue(collection_id=collection_id, stored_file_id=image.stored_file_id, series_id=image.series_id,
            image_id=image.pk, elements=elements, note=what)
    if replaced_file is not None:
        flush(collection_id)
        remove_file(collection_id=collection_id, stored_file_id=replaced_file.pk)


def on_ingest_many(*, submission, entries):
    """The ingest hook for a chunk of new files: their values wait in one INSERT."""
    enqueue_many(submission.collection_id, [
        (e.image.stored_file_id, e.image.series_id, e.image.pk, e.elements,
         f"a new file (SOP Instance UID {e.image.sop_instance_uid})") for e in entries])


def on_batch_end(*, submission, **_):
    """Batch hook: count what the batch left pending."""
    flush(submission.collection_id)


# ── reading ────────────────────────────────────────────────────────────────────────────────

def filtered(collection, *, vr="", private="", likely=False, show_own=False, tag="", q="", marked=False, kind=""):
    flush(collection.pk)  # files still pending are counted before anyone reads the report
    qs = _facet_filters(PhiValue.objects.filter(collection=collection, present=True), vr=vr, private=private,
                        likely=likely, show_own=show_own)
    if kind:
        qs = qs.filter(phi_kinds__contains=kind)
    if tag:
        qs = _tag_filter(qs, tag.strip())
    if q:
        qs = qs.filter(value__icontains=q)
    if marked:
        qs = qs.exclude(disposition="")
    return qs


def value_rows(collection):
    """The report's *value rows*, the one definition every count uses (the page's totals, each
    tag's count, the CSV export, the sign-off's rows and digest): a unique (tag path, VR, value)
    held by at least one current file, other than a UID under our own root (we made those)."""
    flush(collection.pk)
    return PhiValue.objects.filter(collection=collection).filter(VALUE_ROW)


def count_capped(qs, cap: int) -> tuple[int, bool]:
    """(count, more): counts at most `cap` rows, so a tag with a million values costs what one
    with a thousand does."""
    n = qs.order_by()[: cap + 1].count()
    return min(n, cap), n > cap


def tag_groups(qs, *, after_tag=None, groups=20, per_tag=10, cap=1000):
    """One page of the report grouped by tag path: ([(tag_path, keyword, count, more, first
    rows)], next tag cursor). Tag paths are found one indexed lookup each (a loose index scan),
    never by scanning the values of a long tag; each tag shows its first `per_tag` rows."""
    paths, last = [], after_tag
    for _ in range(groups + 1):
        step = qs if last is None else qs.filter(tag_path__gt=last)
        tag = step.order_by("tag_path").values_list("tag_path", flat=True).first()
        if tag is None:
            break
        paths.append(tag)
        last = tag
    more_tags = len(paths) > groups
    paths = paths[:groups]
    out = []
    for tag in paths:
        rows = list(qs.filter(tag_path=tag).order_by("id")[:per_tag])
        n, more = count_capped(qs.filter(tag_path=tag), cap)
        out.append({"tag_path": tag, "keyword": rows[0].keyword if rows else "", "count": n, "more": more, "rows": rows,
                    "hidden": max(n - len(rows), 0)})
    return out, (paths[-1] if more_tags and paths else None)


_KEYWORDS_CI: dict = {}


def _tag_filter(qs, tag: str):
    """A tag path prefix ("(0010," …) or an attribute keyword (any case), each as an index range:
    the report's pages find their tags one indexed lookup at a time, and a filter the index cannot
    bound would scan every row past the last match."""
    if tag.startswith("("):
        qs = qs.filter(tag_path__startswith=tag)
        if _bytewise_order():  # then the prefix's rows are one range of the (tag_path) order
            qs = qs.filter(tag_path__gte=tag, tag_path__lt=tag[:-1] + chr(ord(tag[-1]) + 1))
        return qs
    if not _KEYWORDS_CI:
        from pydicom.datadict import DicomDictionary

        _KEYWORDS_CI.update({entry[4].lower(): entry[4] for entry in DicomDictionary.values() if entry[4]})
    return qs.filter(keyword=_KEYWORDS_CI.get(tag.lower(), tag))


_BYTEWISE: dict = {}


def _bytewise_order() -> bool:
    """True when the database orders text by code point (SQLite; PostgreSQL with a C collation)."""
    alias = connection.alias
    if alias not in _BYTEWISE:
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()")
                row = cur.fetchone()
            _BYTEWISE[alias] = bool(row) and row[0].split(".")[0] in ("C", "POSIX")
        else:
            _BYTEWISE[alias] = connection.vendor == "sqlite"
    return _BYTEWISE[alias]


def page(qs, *, after=None, size=100):
    """One keyset page ordered by (tag_path, id): no OFFSET, so page 10,000 costs what page 1 does."""
    if after:
        qs = qs.extra(where=["(tag_path, phi_phivalue.id) > (%s, %s)"], params=[after[0], int(after[1])])
    rows = list(qs.order_by("tag_path", "id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    cursor = (rows[-1].tag_path, rows[-1].pk) if more and rows else None
    return rows, cursor


def _facet_filters(qs, *, vr="", private="", likely=False, show_own=False):
    """The filters PhiValue rows and PhiFacet totals share (both have vr, is_private, likely_phi, own_uid)."""
    if not show_own:
        qs = qs.filter(own_uid=False)
    if vr:
        qs = qs.filter(vr__in=[v.strip().upper() for v in vr.split(",") if v.strip()])
    if private in ("public", "private"):
        qs = qs.filter(is_private=(private == "private"))
    if likely:
        qs = qs.filter(likely_phi=True)
    return qs


def facet_total(collection, *, vr="", private="", likely=False, show_own=False):
    qs = _facet_filters(PhiFacet.objects.filter(collection=collection), vr=vr, private=private, likely=likely,
                        show_own=show_own)
    return sum(qs.values_list("values", flat=True))


def vr_choices(collection):
    return sorted(set(PhiFacet.objects.filter(collection=collection, values__gt=0).values_list("vr", flat=True)))


def digest(collection) -> tuple[str, int]:
    """SHA-256 over the report's value rows (see value_rows) sorted by (tag path, VR, value), and
    how many there are; then over every registered section's lines (supporting data), so the
    sign-off covers them too. A collection without sections keeps the value rows' digest."""
    h = hashlib.sha256()
    n = 0
    rows = (value_rows(collection)
            .order_by("tag_path", "vr", "value", "id")
            .values_list("tag_path", "vr", "value", "file_count", "series_count"))
    for tag_path, vr, value, files, series in rows.iterator(chunk_size=5000):
        h.update(f"{tag_path}\t{vr}\t{value}\t{files}\t{series}\n".encode("utf-8", "surrogateescape"))
        n += 1
    for section in sections(collection):
        h.update(f"\x1e{section.title}\n".encode())
        for line in section.digest_lines:
            h.update((line + "\n").encode("utf-8", "surrogateescape"))
    return h.hexdigest(), n


# ── sections: what other apps add to the report (supporting data) ─────────────────────────

@dataclass
class SectionItem:
    source: str        # e.g. the table's name
    field: str         # e.g. the column
    kinds: list        # what the heuristics flagged: name, mrn, date, phone, address, email…
    disposition: str   # "" while undecided
    disposition_label: str = ""
    url: str = ""
    summary: str = ""  # e.g. "text, 120 unique values"


@dataclass
class Section:
    title: str
    url: str
    items: list
    digest_lines: list

    @property
    def pending(self) -> int:
        """Flagged items with no disposition: the curator's work left (the sign-off waits for none)."""
        return sum(1 for i in self.items if i.kinds and not i.disposition)


_SECTIONS: list = []


def register_section(fn):
    """fn(collection) -> Section | None: a part of the report another app keeps (idempotent).
    Its digest lines enter the sign-off's digest; the app calls note_change when they change."""
    if fn not in _SECTIONS:
        _SECTIONS.append(fn)
    return fn


def sections(collection) -> list:
    return [s for s in (fn(collection) for fn in _SECTIONS) if s is not None]


def is_postgres() -> bool:
    return connection.vendor == "postgresql"
