import functools

from django import template

register = template.Library()


@register.filter
def bytes_si(value):
    """Bytes in SI units (1 GB = 10^9 bytes), as TCIA reports collection sizes."""
    try:
        n = float(value or 0)
    except (TypeError, ValueError):
        return "–"
    if n <= 0:
        return "–"
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


@functools.lru_cache(maxsize=512)
def _sanitize(html: str, image_hosts: tuple) -> str:
    from collections_app.services.wiki import sanitize

    return sanitize(html)


@register.filter
def sanitized(value):
    """Wiki HTML shown as HTML: run through the wiki's allow-list sanitizer (nh3) at render time
    (remembered per text and allowed image hosts, since the same revision is shown again and again)."""
    from django.conf import settings
    from django.utils.safestring import mark_safe

    hosts = tuple(sorted(getattr(settings, "TCIA_WIKI_IMAGE_HOSTS", ())))
    # safe: nh3 has just removed every tag, attribute and URL outside the allow-list
    # (no scripts, handlers, styles, javascript:/data: URLs or foreign images).
    return mark_safe(_sanitize(str(value or ""), hosts))


@register.simple_tag(takes_context=True)
def render_with(context, template_name, extra):
    """Render `template_name` with the current context plus the dict `extra` (e.g. a lazily built
    page context inside a {% cache %} fragment, so a cache hit never builds it). The output is
    the template's own, autoescaped rendering."""
    template = context.template.engine.get_template(template_name)
    with context.push(extra or {}):
        return template.template.render(context) if hasattr(template, "template") else template.render(context)
