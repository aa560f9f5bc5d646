"""Wiki pages: Markdown rendered to sanitized HTML, every save a revision, diff and revert.

Sanitizing uses nh3 (Rust's ammonia): an allow-list of tags and attributes, so scripts,
event-handler attributes and javascript:/data: URLs cannot survive, whatever the Markdown.
Images from other sites and classes outside a small set are dropped too. Stored HTML is
sanitized again when shown (the `sanitized` template filter), so a rule added here also
cleans revisions saved before it.
"""
import difflib
import re
from urllib.parse import urlsplit

import markdown
import nh3
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from tcia.core.audit import log

from ..models import Collection, WikiPage, WikiRevision

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "s",
    "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "th": {"align", "colspan", "rowspan"},
    "td": {"align", "colspan", "rowspan"},
    "abbr": {"title"},
    "code": {"class"},
    "div": {"class"},
    "span": {"class"},
    "h1": {"id"}, "h2": {"id"}, "h3": {"id"}, "h4": {"id"},
}
ALLOWED_SCHEMES = {"http", "https", "mailto"}
# `class` only from this documented set (so a page cannot dress text up as the portal's own
# buttons, messages or navigation), plus `language-<name>` on <code> from fenced code blocks.
ALLOWED_CLASSES = {"note", "warning", "figure", "caption", "lead", "meta"}
_LANGUAGE_CLASS = re.compile(r"^language-[a-z0-9+#-]{1,32}$")


def _image_allowed(src: str) -> bool:
    """Images come from this site (a relative or absolute path); another host only when it is
    named in TCIA_WIKI_IMAGE_HOSTS (empty by default: no tracking pixels on public pages)."""
    src = src.strip()
    parts = urlsplit(src)
    if not parts.scheme and not parts.netloc:
        return not src.startswith(("//", "\\"))
    hosts = {h.lower() for h in getattr(settings, "TCIA_WIKI_IMAGE_HOSTS", ())}
    return parts.scheme == "https" and (parts.hostname or "").lower() in hosts


def _filter_attribute(tag: str, attribute: str, value: str):
    if tag == "img" and attribute == "src":
        return value if _image_allowed(value) else None
    if attribute == "class":
        allowed = [c for c in value.split() if c in ALLOWED_CLASSES or (tag == "code" and _LANGUAGE_CLASS.match(c))]
        return " ".join(allowed) or None
    return value


def sanitize(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_filter_attribute,
        url_schemes=ALLOWED_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render_markdown(source: str) -> str:
    html = markdown.markdown(source or "", extensions=["tables", "fenced_code", "sane_lists", "toc"], output_format="html")
    return sanitize(html)


def ensure_page(collection: Collection, slug: str = "overview", title: str | None = None, position: int = 0) -> WikiPage:
    page, _ = WikiPage.objects.get_or_create(
        collection=collection, slug=slug, defaults={"title": title or slug.replace("-", " ").title(), "position": position}
    )
    return page


@transaction.atomic
def save_revision(*, page: WikiPage, body: str, author, comment: str = "", title: str | None = None,
                  reverted_from: WikiRevision | None = None) -> WikiRevision:
    """Append a revision and make it current. Saving an unchanged text still records it."""
    page = WikiPage.objects.select_for_update().get(pk=page.pk)
    number = (page.revisions.aggregate(n=Max("number"))["n"] or 0) + 1
    revision = WikiRevision.objects.create(
        page=page,
        number=number,
        title=title or page.title,
        body=body,
        html=render_markdown(body),
        author=author if getattr(author, "is_authenticated", False) else None,
        comment=comment[:300],
        reverted_from=reverted_from,
    )
    page.current = revision
    if title:
        page.title = title
    page.save(update_fields=["current", "title"])
    # Public pages of the collection are cached by its updated_at: a new revision makes them again.
    Collection.objects.filter(pk=page.collection_id).update(updated_at=timezone.now())
    log(
        "wiki.revert" if reverted_from else "wiki.revise",
        actor=author,
        obj=page,
        reason=comment,
        revision=number,
        reverted_from=reverted_from.number if reverted_from else None,
    )
    return revision


def revert(*, page: WikiPage, to: WikiRevision, author, comment: str = "") -> WikiRevision:
    if to.page_id != page.pk:
        raise ValueError("That revision belongs to another page.")
    return save_revision(
        page=page,
        body=to.body,
        title=to.title,
        author=author,
        comment=comment or f"Reverted to revision {to.number}",
        reverted_from=to,
    )


def diff_lines(old: WikiRevision, new: WikiRevision) -> list[tuple[str, str]]:
    """Line diff of two revisions' Markdown as (kind, text) pairs; kind is ' ', '+', '-' or '@'."""
    out = []
    for line in difflib.unified_diff(
        old.body.splitlines(), new.body.splitlines(), f"r{old.number}", f"r{new.number}", lineterm="", n=3
    ):
        if line.startswith(("---", "+++")):
            continue
        kind = line[:1] if line[:1] in "+-@" else " "
        out.append((kind, line[1:] if kind != "@" else line))
    return out
