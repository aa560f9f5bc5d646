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
