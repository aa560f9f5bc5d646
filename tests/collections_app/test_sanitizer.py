"""The wiki's Markdown renderer must never let active content through."""
import re

import pytest

from collections_app.services.wiki import render_markdown

ATTACKS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src="x.png" onerror="alert(1)">',
    '<a href="https://ok.example" onclick="alert(1)">x</a>',
    "[click](javascript:alert(1))",
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">',
    '<iframe src="https://evil.example"></iframe>',
    '<svg onload="alert(1)"><circle/></svg>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<form action="https://evil.example"><input name=a></form>',
    '<body onload="alert(1)">',
    '<object data="x.swf"></object><embed src="x.swf">',
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_is_neutralised(attack):
    html = render_markdown(f"Before\n\n{attack}\n\nAfter")
    lowered = html.lower()
    assert "<script" not in lowered
    assert not re.search(r"\son[a-z]+\s*=", lowered), html
    assert "javascript:" not in lowered
    assert "data:" not in lowered
    for tag in ("<iframe", "<svg", "<form", "<object", "<embed", "<style", "<body"):
        assert tag not in lowered
    assert "style=" not in lowered
    assert "Before" in html  # text around an attack may be dropped with it, never executed


def test_ordinary_markdown_survives():
    html = render_markdown("## Title\n\n*em* and **strong**, [a link](https://example.org/x), `code`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<h2" in html and "<em>em</em>" in html and "<strong>strong</strong>" in html
    assert 'href="https://example.org/x"' in html and 'rel="noopener noreferrer nofollow"' in html
    assert "<table>" in html and "<td>1</td>" in html
    assert "<code>code</code>" in html


def test_external_images_are_dropped_by_default():
    html = render_markdown('![pixel](https://tracker.example/p.gif) ![ok](/media/figure.png) <img src="//cdn.example/x.png">')
    assert "tracker.example" not in html and "cdn.example" not in html
    assert 'src="/media/figure.png"' in html


def test_external_images_from_an_allowed_host_only(settings):
    settings.TCIA_WIKI_IMAGE_HOSTS = ["images.example.org"]
    html = render_markdown("![a](https://images.example.org/a.png) ![b](http://images.example.org/b.png) ![c](https://other.example/c.png)")
    assert 'src="https://images.example.org/a.png"' in html
    assert "http://images.example.org/b.png" not in html and "other.example" not in html


def test_class_only_from_the_documented_set():
    from collections_app.services.wiki import ALLOWED_CLASSES

    html = render_markdown('<div class="note button messages">n</div><span class="skip-link warning">w</span>\n\n'
                           "```python\nx = 1\n```\n")
    classes = set(" ".join(re.findall(r'class="([^"]*)"', html)).split())
    assert classes == {"note", "warning", "language-python"}
    assert {"note", "warning"} <= ALLOWED_CLASSES


def test_stored_html_is_sanitized_again_when_shown(client, db):
    from collections_app.models import WikiRevision
    from tests.collections_app.factories import CollectionFactory

    from collections_app.services import wiki

    collection = CollectionFactory(status="published")
    page = wiki.ensure_page(collection, "overview", "Overview")
    revision = wiki.save_revision(page=page, body="Hello", author=None)
    # A revision saved before today's rules (or written to the database directly).
    WikiRevision.objects.filter(pk=revision.pk).update(
        html='<p>Hello<img src="https://tracker.example/p.gif"><script>alert(1)</script></p>')
    body = client.get(collection.get_absolute_url()).content.decode()
    assert "Hello" in body and "tracker.example" not in body and "<script>alert" not in body
