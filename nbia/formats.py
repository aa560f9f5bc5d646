"""Rendering result rows the way NBIA's `FormatOutput` does (reference §2).

Rows are lists of values in column order. JSON drops the keys of null values and escapes `/`
as `\\/`; an empty result is HTTP 200 with an empty body in every format (tcia_utils reads that
as "no results"). CSV quotes every field except on single-column endpoints.
"""
import json
from xml.sax.saxutils import escape

from django.http import HttpResponse

FORMATS = ("json", "csv", "xml", "html")


class UnknownFormat(ValueError):
    pass


def _is_null(value) -> bool:
    return value is None


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_json(columns, rows) -> str:
    objects = [{c: v for c, v in zip(columns, row) if not _is_null(v)} for row in rows]
    return json.dumps(objects, separators=(",", ":"), ensure_ascii=False).replace("/", "\\/")


def _csv_field(value) -> str:
    return '"' + _text(value).replace('"', '""') + '"'


def to_csv(columns, rows, quote: bool | None = None) -> str:
    if quote is None:
        quote = len(columns) > 1
    lines = [",".join(columns)]
    for row in rows:
        lines.append(",".join(_csv_field(v) if quote else _text(v) for v in row))
    return "\n".join(lines) + "\n"


def _java_type(value) -> str:
    if isinstance(value, bool):
        return "java.lang.Boolean"
    if isinstance(value, int):
        return "java.lang.Long" if abs(value) > 2**31 - 1 else "java.lang.Integer"
    if isinstance(value, float):
        return "java.lang.Double"
    return "java.lang.String"


def to_xml(columns, rows) -> str:
    out = ["<Results>"]
    for row in rows:
        out.append("<Row>")
        for value in row:
            if not _is_null(value):
                out.append(f"<Col type='{_java_type(value)}'>{escape(_text(value))}</Col>")
        out.append("</Row>")
    out.append("</Results>")
    return "".join(out)


def to_html(columns, rows) -> str:
    out = ["<TABLE BORDER=1><TR>"]
    out += [f"<TH>{escape(c)}</TH>" for c in columns]
    out.append("</TR>")
    for row in rows:
        out.append("<TR>")
        out += [f"<TD>{escape(_text(v))}</TD>" for v in row]
        out.append("</TR>")
    out.append("</TABLE>")
    return "".join(out)


CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv",
    "xml": "application/xml",
    "html": "text/html",
}


def normalise(fmt: str | None, default: str = "json") -> str:
    fmt = (fmt or default).strip().lower() or default
    if fmt not in FORMATS:
        raise UnknownFormat(fmt)
    return fmt


def render(columns, rows, fmt: str, *, csv_filename: str | None = None) -> HttpResponse:
    rows = list(rows)
    if not rows:
        return HttpResponse(b"", content_type=CONTENT_TYPES[fmt] + "; charset=utf-8", status=200)
    body = {"json": to_json, "csv": to_csv, "xml": to_xml, "html": to_html}[fmt](columns, rows)
    response = HttpResponse(body.encode("utf-8"), content_type=CONTENT_TYPES[fmt] + "; charset=utf-8")
    if fmt == "csv" and csv_filename:
        response["Content-Disposition"] = f'attachment; filename="{csv_filename}"'
    return response
