"""Escaping by construction and the Content-Security-Policy.

- No `mark_safe`/`SafeString`/`|safe`/`autoescape off` without a `safe:` comment saying why.
- Templates carry no inline script, style element, style attribute or event handler (the CSP
  forbids them, so they would also break the page).
- Citations escape every field whatever the style; only the style's emphasis stays markup.
- Every response carries a strict CSP.
"""
import re
from pathlib import Path

import pytest

from doi import citations

ROOT = Path(__file__).resolve().parents[2]
CODE_DIRS = ["tcia", "collections_app", "curation", "proposals", "doi", "nbia", "api"]
PAYLOAD = '<script>alert("t")</script><img src=x onerror=alert(1)><b onmouseover=alert(2)>x</b>&amp;'


def _python_files():
    for d in CODE_DIRS:
        yield from (p for p in (ROOT / d).rglob("*.py") if "migrations" not in p.parts)


def test_every_mark_safe_says_why_it_is_safe():
    unexplained = []
    for path in _python_files():
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if re.search(r"\b(mark_safe|SafeString|SafeText)\(", line) and "import" not in line:
                context = "\n".join(lines[max(0, i - 3):i + 1])
                if "# safe:" not in context:
                    unexplained.append(f"{path.relative_to(ROOT)}:{i + 1}: {line.strip()}")
    assert not unexplained, "mark_safe without a '# safe: why' comment just above:\n" + "\n".join(unexplained)


def test_templates_mark_nothing_safe_without_a_reason():
    found = []
    for path in (ROOT / "templates").rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text()
        for i, line in enumerate(text.splitlines(), 1):
            if re.search(r"\|\s*safe\b|\{%\s*autoescape\s+off", line) and "{# safe:" not in text:
                found.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()[:100]}")
    assert not found, "\n".join(found)


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/(ld\+)?json)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event-handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_templates_have_no_inline_script_or_style():
    found = []
    for path in (ROOT / "templates").rglob("*.html"):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            for pattern, what in INLINE:
                if pattern.search(line) and "removed when the page is shown" not in line:
                    found.append(f"{path.relative_to(ROOT)}:{i}: {what}")
    assert not found, "The CSP forbids these; use static/ files and data attributes:\n" + "\n".join(found)


def _record(title=PAYLOAD, family="O'Brien<i>", publisher="Pub<script>"):
    return {"doi": "10.80000/x.1", "titles": [{"title": title}], "publicationYear": "2024",
            "creators": [{"nameType": "Personal", "familyName": family, "givenName": "A&B"},
                         {"nameType": "Organizational", "name": "Lab <svg onload=alert(3)>"}],
            "publisher": {"name": publisher}, "types": {"resourceType": "Dataset"}, "version": "1<br>"}


@pytest.mark.parametrize("style", list(citations.STYLES))
def test_citation_html_escapes_every_field(style):
    html = citations.formatted_html(_record(), style)
    tags = set(re.findall(r"<\s*/?\s*([a-zA-Z0-9]+)", html))
    assert tags <= citations.CITATION_TAGS, (style, html)
    assert "<script" not in html and "<img" not in html and "<svg" not in html
    assert not re.search(r"<[^>]+\s[a-z-]+\s*=", html), html  # no attributes at all
    assert "&lt;script&gt;" in html and "onerror" in html.lower()  # the text is still there, as text
    assert "10.80000/x.1" in html


def test_citation_html_keeps_the_style_emphasis():
    html = citations.formatted_html(_record(title="Plain title"), "apa")
    assert "<i>Plain title</i>" in html


def test_landing_page_shows_a_hostile_title_as_text(client, published):
    from doi import selectors

    published.collection.title = PAYLOAD
    published.collection.save()
    d = selectors.version_doi(published)
    page = client.get(f"/doi/{d.doi}").content.decode()
    assert "<script>alert" not in page and "<img src=x" not in page and "<b onmouseover" not in page
    assert "&lt;script&gt;alert" in page


# CSP ------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/api/collections/", "/nbia-api/services/v4/getCollectionValues", "/no-such-page/",
                                 "/admin/login/", "/accounts/login/"])
def test_every_response_carries_a_strict_csp(client, url):
    response = client.get(url)
    policy = response["Content-Security-Policy"]
    directives = dict((d.split(" ", 1) + [""])[:2] for d in (p.strip() for p in policy.split(";")) if d)
    assert directives["default-src"] == "'self'"
    # 'self', and a nonce only on a response whose page used one
    assert re.fullmatch(r"'self'( 'nonce-[A-Za-z0-9+/=]+')?", directives["script-src"]), directives["script-src"]
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "*" not in policy
    assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
