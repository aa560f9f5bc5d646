"""Incremental maintenance of the PHI report (the ingest hook) and reading it (keyset pages).

A file's elements come straight from intake or from a correction (curation.hooks); nothing
here opens a DICOM file. Adding a file costs a handful of set-based queries whatever its
number of elements; a replaced file's contribution is subtracted from its PhiFile row.
"""
import hashlib
import re
from array import array
from collections import Counter

from django.conf import settings
from django.db import connection
from django.db.models import F, Q
from django.utils import timezone
from pydicom.datadict import keyword_for_tag

from curation.checks.fixes import value_text

from .models import PhiFacet, PhiFile, PhiReportState, PhiSeriesValue, PhiValue

MAX_VALUE = 1024
INDEX = re.compile(r"\[\d+\]")
SKIP = {"(0002,0000)", "(0002,0001)"}  # group length and meta version: bytes with no content
LAST_TAG = re.compile(r'\((?P<g>[0-9A-F]{4}),(?:"(?P<c>[^"]*)",(?P<b>[0-9a-fA-F]{2})|(?P<e>[0-9A-F]{4}))\)$')

DATE_RE = re.compile(r"\b(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\b|\b\d{1,2}[/.-]\d{1,2}[/.-](19|20)?\d{2}\b")
PHONE_RE = re.compile(r"(\+?\d{1,2}[\s.-])?\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b")
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
ADDRESS_RE = re.compile(r"\b\d{1,5}\s+\w+(\s\w+)*\s+(street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|way|court|ct)\b",
                        re.I)
ID_RE = re.compile(r"^[A-Za-z]{0,4}[-_]?\d{5,}[A-Za-z]?$")
ID_KEYWORD = re.compile(r"(ID|IDs|Number|Numbers)$")


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
    """Heuristics for "likely PHI" (a curator decides): names, dates, IDs, addresses, phones, e-mails."""
    if not value.strip():
        return []
    kinds = []
    if vr == "PN" or ("Name" in keyword and vr in ("LO", "SH", "LT", "ST", "UT", "UN")):
        kinds.append("name")
    if vr in ("DA", "DT") or (vr in ("LO", "SH", "LT", "ST", "UT", "UN", "UC") and DATE_RE.search(value)):
        kinds.append("date")
    if vr not in ("UI", "DS", "IS", "FL", "FD", "SL", "SS", "UL", "US") and (
            ID_KEYWORD.search(keyword) or ID_RE.match(value.strip())):
        kinds.append("id")
    if "Address" in keyword or ADDRESS_RE.search(value):
        kinds.append("address")
    if "Telephone" in keyword or (vr not in ("DS", "IS", "UI") and PHONE_RE.search(value)):
        kinds.append("phone")
    if EMAIL_RE.search(value):
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


def _rows(elements):
    """{value_hash: (sig, vr, text, concrete path, own uid)} for a file's elements."""
    root = settings.TCIA_UID_ROOT + "."
    rows = {}
    sha1 = hashlib.sha1
    for path, vr, value in elements:
        if value is None or path in SKIP:
            continue
        text = value if type(value) is str else value_text(value)
        sig = _signature(path)
        digest = sha1(f"{sig}\x00{vr}\x00{text}".encode("utf-8", "surrogateescape")).hexdigest()
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


CHUNK = 400  # values per statement: well under SQLite's and PostgreSQL's parameter limits
_VALUE_COLUMNS = ("collection_id", "tag_path", "vr", "value", "value_hash", "keyword", "is_private", "creator",
                  "file_count", "series_count", "present", "own_uid", "likely_phi", "phi_kinds", "example_image_id",
                  "example_path", "disposition", "disposition_arg")
_RETURNING = "value_hash, id, file_count, series_count, vr, is_private, likely_phi, own_uid"


def _chunks(seq, n=CHUNK):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _marks(n: int) -> str:
    return ", ".join(["%s"] * n)


def _in(column: str, values) -> tuple[str, list]:
    """`column IN (…)` for a list of values: one array parameter on PostgreSQL (short SQL text,
    cheap to parse and plan), a parameter per value elsewhere."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(values)]
    return f"{column} IN ({_marks(len(values))})", list(values)


def _new_value_params(collection_id, image_id, h, row):
    sig, vr, text, path, own = row
    keyword, private, creator = describe_tag(sig)
    kinds = [] if own else phi_kinds(keyword, vr, text)
    # a value new to the report: held by this file, in this series (file_count = series_count = 1)
    return [collection_id, sig[:400], vr or "UN", text[:MAX_VALUE], h, keyword[:100], private, creator[:64], 1, 1, True,
            own, bool(kinds), ",".join(kinds), image_id, path[:400], "", ""]


def add_file(*, collection_id, stored_file_id, series_id, image_id, elements):
    """Count one file's values: a fixed handful of set-based statements whatever its size.

    1. existing values: file_count + 1 (UPDATE … RETURNING), present again where it was 0;
    2. the rest: INSERT … ON CONFLICT DO UPDATE (a concurrent intake may have added one meanwhile);
    3. (value, series) rows: upsert files + 1; series_count + 1 where this file is the first of its series;
    4. facets for values that appeared (file_count went 0 → 1); 5. the file's PhiFile row.
    """
    rows = _rows(elements)
    value_t = PhiValue._meta.db_table
    file_t = PhiFile._meta.db_table
    series_t = PhiSeriesValue._meta.db_table
    with connection.cursor() as cur:
        cur.execute(f"SELECT 1 FROM {file_t} WHERE collection_id = %s AND stored_file_id = %s",
                    [collection_id, stored_file_id])
        if cur.fetchone() is not None:
            return  # counted already (a hook run twice for the same bytes)
        found = {}  # value_hash -> (id, file_count, series_count, vr, is_private, likely_phi, own_uid) after this file
        hashes = list(rows)
        for chunk in _chunks(hashes):
            # file_count only: `present` is in the partial indexes' conditions, so setting it on every
            # row would rewrite (SQLite) or un-HOT (PostgreSQL) five index entries per value
            cond, params = _in("value_hash", chunk)
            cur.execute(f"UPDATE {value_t} SET file_count = file_count + 1 "
                        f"WHERE collection_id = %s AND {cond} RETURNING {_RETURNING}", [collection_id, *params])
            for r in cur.fetchall():
                found[r[0]] = r[1:]
        back = [r[0] for r in found.values() if r[1] == 1]  # absent until this file (every holder was replaced)
        tail = _Tail(cur)  # statements whose results are not read
        for chunk in _chunks(back):
            cond, params = _in("id", chunk)
            tail.add(f"UPDATE {value_t} SET present = %s WHERE {cond}", [True, *params])
        inserted = set()
        missing = [h for h in hashes if h not in found]
        one_row = "(" + _marks(len(_VALUE_COLUMNS)) + ")"
        for chunk in _chunks(missing, 200):
            params = []
            for h in chunk:
                params.extend(_new_value_params(collection_id, image_id, h, rows[h]))
            cur.execute(f"INSERT INTO {value_t} ({', '.join(_VALUE_COLUMNS)}) VALUES {', '.join([one_row] * len(chunk))} "
                        f"ON CONFLICT (collection_id, value_hash) DO UPDATE SET file_count = {value_t}.file_count + 1, "
                        f"present = %s RETURNING {_RETURNING}", [*params, True])
            for r in cur.fetchall():
                found[r[0]] = r[1:]
                if r[2] == 1 and r[3] == 1:  # inserted here: its series is counted already
                    inserted.add(r[1])
        ids = [found[h][0] for h in hashes]
        first_in_series = []
        for chunk in _chunks(ids):
            if connection.vendor == "postgresql":
                rows_sql, params = "SELECT v, %s::bigint, 1 FROM unnest(%s::bigint[]) AS t(v)", [series_id, chunk]
            else:
                rows_sql, params = "VALUES " + ", ".join(["(%s, %s, 1)"] * len(chunk)), [p for i in chunk for p in (i, series_id)]
            cur.execute(f"INSERT INTO {series_t} (value_id, series_id, files) {rows_sql} "
                        f"ON CONFLICT (series_id, value_id) DO UPDATE SET files = {series_t}.files + 1 "
                        "RETURNING value_id, files", params)
            first_in_series.extend(vid for vid, files in cur.fetchall() if files == 1 and vid not in inserted)
        for chunk in _chunks(first_in_series):
            cond, params = _in("id", chunk)
            tail.add(f"UPDATE {value_t} SET series_count = series_count + 1 WHERE {cond}", params)
        appearing = Counter((vr, private, likely, own) for _, fc, _, vr, private, likely, own in found.values() if fc == 1)
        if appearing:
            tail.add(*_facet_add(collection_id, appearing))
        tail.add(f"INSERT INTO {file_t} (collection_id, stored_file_id, series_id, value_ids) VALUES (%s, %s, %s, %s)",
                 [collection_id, stored_file_id, series_id, _pack(ids)])
        tail.flush()


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
    """Ingest hook: count the new file's values; subtract the file it replaces."""
    collection_id = submission.collection_id if submission is not None else image.series.collection_id
    if replaced_file is not None:
        remove_file(collection_id=collection_id, stored_file_id=replaced_file.pk)
        from curation.models import CorrectionFile

        record = (CorrectionFile.objects.filter(image=image, new_file_id=image.stored_file_id)
                  .select_related("correction").order_by("-id").first())
        what = (f"correction {record.correction_id} ({record.correction.get_kind_display()}: {record.correction.summary[:120]})"
                if record else "a correction")
    else:
        what = f"a new file (SOP Instance UID {image.sop_instance_uid})"
    add_file(collection_id=collection_id, stored_file_id=image.stored_file_id, series_id=image.series_id,
             image_id=image.pk, elements=elements)
    note_change(collection_id, what)


# ── reading ────────────────────────────────────────────────────────────────────────────────

def filtered(collection, *, vr="", private="", likely=False, show_own=False, tag="", q="", marked=False, kind=""):
    qs = PhiValue.objects.filter(collection=collection, present=True)
    if not show_own:
        qs = qs.filter(own_uid=False)
    if vr:
        qs = qs.filter(vr__in=[v.strip().upper() for v in vr.split(",") if v.strip()])
    if private in ("public", "private"):
        qs = qs.filter(is_private=(private == "private"))
    if likely:
        qs = qs.filter(likely_phi=True)
    if kind:
        qs = qs.filter(phi_kinds__contains=kind)
    if tag:
        tag = tag.strip()
        qs = qs.filter(Q(tag_path__startswith=tag) | Q(keyword__iexact=tag))
    if q:
        qs = qs.filter(value__icontains=q)
    if marked:
        qs = qs.exclude(disposition="")
    return qs


def page(qs, *, after=None, size=100):
    """One keyset page ordered by (tag_path, id): no OFFSET, so page 10,000 costs what page 1 does."""
    if after:
        qs = qs.extra(where=["(tag_path, phi_phivalue.id) > (%s, %s)"], params=[after[0], int(after[1])])
    rows = list(qs.order_by("tag_path", "id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    cursor = (rows[-1].tag_path, rows[-1].pk) if more and rows else None
    return rows, cursor


def facet_total(collection, *, vr="", private="", likely=False, show_own=False):
    qs = PhiFacet.objects.filter(collection=collection)
    if not show_own:
        qs = qs.filter(own_uid=False)
    if vr:
        qs = qs.filter(vr__in=[v.strip().upper() for v in vr.split(",") if v.strip()])
    if private in ("public", "private"):
        qs = qs.filter(is_private=(private == "private"))
    if likely:
        qs = qs.filter(likely_phi=True)
    return sum(qs.values_list("values", flat=True))


def vr_choices(collection):
    return sorted(set(PhiFacet.objects.filter(collection=collection, values__gt=0).values_list("vr", flat=True)))


def digest(collection) -> tuple[str, int]:
    """SHA-256 over the report's present rows sorted by (tag path, VR, value)."""
    h = hashlib.sha256()
    n = 0
    rows = (PhiValue.objects.filter(collection=collection, present=True)
            .order_by("tag_path", "vr", "value", "id")
            .values_list("tag_path", "vr", "value", "file_count", "series_count"))
    for tag_path, vr, value, files, series in rows.iterator(chunk_size=5000):
        h.update(f"{tag_path}\t{vr}\t{value}\t{files}\t{series}\n".encode("utf-8", "surrogateescape"))
        n += 1
    return h.hexdigest(), n


def is_postgres() -> bool:
    return connection.vendor == "postgresql"
