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


@register.filter
def sanitized(value):
    """Wiki HTML shown as HTML: run through the wiki's allow-list sanitizer (nh3) at render time."""
    from django.utils.safestring import mark_safe

    from collections_app.services.wiki import sanitize

    # safe: nh3 has just removed every tag, attribute and URL outside the allow-list
    # (no scripts, handlers, styles, javascript:/data: URLs or foreign images).
    return mark_safe(sanitize(str(value or "")))
