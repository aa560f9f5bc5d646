"""Tables (CSV, TSV, XLSX): reading, the column profiler, and rewriting cells.

`read(data, fmt)` gives the header and rows as strings (XLSX dates as ISO dates). `profile`
infers each column's type, counts its unique values and flags columns that look like PHI by
simple heuristics on names and values. `rewrite(data, fmt, edit, drop)` produces new bytes in
the same format: `edit(column, row_index, value) -> value` for every cell, `drop` the columns
to remove. Plain Python and openpyxl; nothing here touches the database.
"""
import csv
import datetime as dt
import io
import re
from collections import Counter
from dataclasses import dataclass, field

FORMATS = ("csv", "tsv", "xlsx")
MAX_ROWS = 1_000_000


class TableError(ValueError):
    pass


def format_for(name: str, data: bytes) -> str | None:
    lower = name.lower()
    if lower.endswith(".xlsx") or (data[:2] == b"PK" and not lower.endswith((".csv", ".tsv", ".txt"))):
        return "xlsx"
    if lower.endswith(".tsv") or lower.endswith(".tab"):
        return "tsv"
    if lower.endswith(".csv"):
        return "csv"
    return None


def _text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TableError(f"{name}: not UTF-8 text (byte {exc.start}); save the table as UTF-8 CSV") from None


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read(data: bytes, fmt: str, name: str = "table") -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the table's first sheet; every row padded to the header's width."""
    if fmt == "xlsx":
        import openpyxl

        try:
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception:  # noqa: BLE001 - openpyxl raises many kinds for a broken file
            raise TableError(f"{name}: not a readable XLSX workbook") from None
        ws = wb.worksheets[0]
        raw = [[_cell(v) for v in row] for row in ws.iter_rows(values_only=True)]
        wb.close()
    elif fmt in ("csv", "tsv"):
        raw = list(csv.reader(io.StringIO(_text(data, name)), delimiter="\t" if fmt == "tsv" else ","))
    else:
        raise TableError(f"{name}: unknown table format {fmt!r} (CSV, TSV or XLSX)")
    raw = [r for r in raw if any(c.strip() for c in r)]
    if not raw:
        raise TableError(f"{name}: the table is empty (no header row)")
    if len(raw) > MAX_ROWS:
        raise TableError(f"{name}: more than {MAX_ROWS} rows")
    header = [h.strip() for h in raw[0]]
    while header and not header[-1]:
        header.pop()
    if not header or any(not h for h in header):
        raise TableError(f"{name}: the header row has an empty column name")
    dupes = [h for h, n in Counter(header).items() if n > 1]
    if dupes:
        raise TableError(f"{name}: column names repeat: {', '.join(dupes[:5])}")
    rows = [(r + [""] * len(header))[:len(header)] for r in raw[1:]]
    return header, rows


# Profile ----------------------------------------------------------------------------------------

SUBJECT_NAMES = re.compile(r"^(patient[ _]?id|patientid|subject([ _]?id)?|case([ _]?id)?|participant([ _]?id)?|"
                           r"tcia[ _]?(id|subject)|pid|record[ _]?id)$", re.I)
NAME_COLUMN = re.compile(r"(^|[ _])(name|first|last|surname|given|forename|initials)([ _]|$)|patientname|fullname", re.I)
MRN_COLUMN = re.compile(r"mrn|medical[ _]?record|record[ _]?number|ssn|social|accession|hospital[ _]?(no|number|id)", re.I)
DATE_COLUMN = re.compile(r"date|dob|birth|(^|[ _])dt([ _]|$)|_dt$|day[ _]of", re.I)
PHONE_COLUMN = re.compile(r"phone|tel(ephone)?|fax|mobile|cell", re.I)
ADDRESS_COLUMN = re.compile(r"address|street|city|zip|postal|postcode|town", re.I)
EMAIL_COLUMN = re.compile(r"e-?mail", re.I)

DATE_PATTERNS = [
    (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "%Y-%m-%d"),
    (re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?$"), None),
    (re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$"), "%m/%d/%Y"),
    (re.compile(r"^\d{8}$"), "%Y%m%d"),
    (re.compile(r"^\d{1,2}-\d{1,2}-\d{4}$"), "%m-%d-%Y"),
]
PHONE_VALUE = re.compile(r"^(\+?1[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}$")
NAME_VALUE = re.compile(r"^[A-Z][a-z'’-]+(\^|, ?| )[A-Z][a-z'’-]+([ ^][A-Z][a-z.]*)?$")
ADDRESS_VALUE = re.compile(r"^\d+\s+\w.*\b(st|street|ave|avenue|rd|road|blvd|lane|ln|dr|drive|way|ct|court)\b\.?", re.I)
EMAIL_VALUE = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.I)
MRN_VALUE = re.compile(r"^[A-Z]{0,4}\d{6,}$", re.I)


def parse_date(value: str) -> tuple[dt.date, str] | None:
    """(date, the strptime format it was written in) or None."""
    v = value.strip()
    for pattern, fmt in DATE_PATTERNS:
        if pattern.match(v):
            try:
                if fmt is None:
                    return dt.datetime.fromisoformat(v).date(), "iso-datetime"
                return dt.datetime.strptime(v, fmt).date(), fmt
            except ValueError:
                return None
    return None


def _type(values: list[str]) -> str:
    filled = [v for v in values if v.strip()]
    if not filled:
        return "empty"
    def share(test):
        return sum(1 for v in filled if test(v)) / len(filled)
    if share(lambda v: re.fullmatch(r"[+-]?\d+", v.strip()) is not None) >= 0.9:
        return "integer"
    if share(lambda v: re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", v.strip()) is not None) >= 0.9:
        return "number"
    if share(lambda v: parse_date(v) is not None) >= 0.8:
        return "date"
    return "text"


@dataclass
class ColumnProfile:
    column: str
    type: str
    filled: int
    unique: int
    values: list[tuple[str, int]] = field(default_factory=list)  # most common values (for curators' eyes only)
    flags: list[str] = field(default_factory=list)


def flags_for(column: str, values: list[str], inferred: str) -> list[str]:
    """Why a column may hold PHI: its name, or most of its values, look like a name, an MRN,
    a date, a phone number, an address or an e-mail address."""
    filled = [v.strip() for v in values if v.strip()]
    out = []

    def most(pattern):
        return bool(filled) and sum(1 for v in filled if pattern.match(v)) / len(filled) >= 0.5

    if NAME_COLUMN.search(column) or most(NAME_VALUE):
        out.append("name")
    if MRN_COLUMN.search(column) or (inferred in ("integer", "text") and most(MRN_VALUE)
                                     and len(set(filled)) == len(filled) and len(filled) > 1):
        out.append("mrn")
    if DATE_COLUMN.search(column) or inferred == "date":
        out.append("date")
    if PHONE_COLUMN.search(column) or most(PHONE_VALUE):
        out.append("phone")
    if ADDRESS_COLUMN.search(column) or most(ADDRESS_VALUE):
        out.append("address")
    if EMAIL_COLUMN.search(column) or most(EMAIL_VALUE):
        out.append("email")
    return out


def profile(header: list[str], rows: list[list[str]], *, subject_column: str = "", top: int = 10) -> list[ColumnProfile]:
    out = []
    for i, column in enumerate(header):
        values = [r[i] for r in rows]
        counts = Counter(v for v in values if v.strip())
        inferred = _type(values)
        flags = [] if column == subject_column else flags_for(column, values, inferred)
        out.append(ColumnProfile(column=column, type=inferred, filled=sum(counts.values()), unique=len(counts),
                                 values=counts.most_common(top), flags=flags))
    return out


def detect_subject_column(header: list[str]) -> str:
    return next((h for h in header if SUBJECT_NAMES.match(h.strip())), "")


# Rewriting --------------------------------------------------------------------------------------


def rewrite(data: bytes, fmt: str, edit, drop=(), name: str = "table") -> tuple[bytes, dict[str, int]]:
    """New bytes with `edit(column, row_index, value)` applied to every data cell and the
    columns in `drop` removed; returns them with the count of changed cells per column."""
    changed: Counter = Counter()
    drop = set(drop)
    if fmt == "xlsx":
        import openpyxl

        wb = openpyxl.load_workbook(io.BytesIO(data))
        ws = wb.worksheets[0]
        rows = [r for r in ws.iter_rows() if any(c.value not in (None, "") and str(c.value).strip() for c in r)]
        header = [str(c.value).strip() if c.value is not None else "" for c in rows[0]]
        for index, row in enumerate(rows[1:]):
            for col, cell in enumerate(row[:len(header)]):
                column = header[col]
                if not column or column in drop:
                    continue
                old = _cell(cell.value)
                new = edit(column, index, old)
                if new != old:
                    cell.value = _typed(cell.value, new)
                    changed[column] += 1
        for col in sorted((i + 1 for i, h in enumerate(header) if h in drop), reverse=True):
            ws.delete_cols(col)
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue(), dict(changed)
    text = _text(data, name)
    newline = "\r\n" if "\r\n" in text[:65536] else "\n"
    delimiter = "\t" if fmt == "tsv" else ","
    header, rows = read(data, fmt, name)
    keep = [i for i, h in enumerate(header) if h not in drop]
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=newline)
    writer.writerow([header[i] for i in keep])
    for index, row in enumerate(rows):
        out_row = []
        for i in keep:
            new = edit(header[i], index, row[i])
            if new != row[i]:
                changed[header[i]] += 1
            out_row.append(new)
        writer.writerow(out_row)
    return buf.getvalue().encode("utf-8"), dict(changed)


def _typed(old, new: str):
    """A rewritten XLSX cell keeps its type: a date (or date and time) stays one."""
    if isinstance(old, (dt.date, dt.datetime)) and new:
        try:
            moved = dt.datetime.fromisoformat(new)
        except ValueError:
            return new
        return moved if isinstance(old, dt.datetime) else moved.date()
    return new


def shift_date(value: str, days: int) -> str | None:
    """The date moved by `days`, written as it was; None when it is not a date."""
    parsed = parse_date(value)
    if parsed is None:
        return None
    date, fmt = parsed
    moved = date + dt.timedelta(days=days)
    if fmt == "iso-datetime":
        rest = value.strip()[10:]
        return moved.isoformat() + rest
    return moved.strftime(fmt)
