"""Cached reads of a DOI's DataCite record and formatted citations.

Building a record costs a dozen queries and formatting a citation with citeproc several
milliseconds, while both change only when the DOI is synced (a new version, a withdrawal, a
subset or analysis result naming it) or its collection's publication metadata is edited; both
move a timestamp (`DOI.updated_at`, `Collection.updated_at`). The cache keys carry those
timestamps, so a change is never served stale by any process, and no invalidation is needed.
"""
from django.core.cache import cache

from . import citations, metadata

TIMEOUT = 24 * 3600


def stamp(doi) -> str:
    collection = doi.collection or (doi.version.collection if doi.version_id else None)
    parts = [str(doi.pk), doi.state, f"{doi.updated_at.timestamp():.6f}"]
    if collection is not None:
        parts.append(f"{collection.updated_at.timestamp():.6f}")
    return ".".join(parts)


def record(doi) -> dict:
    return cache.get_or_set(f"doi-record:{stamp(doi)}", lambda: metadata.build(doi), TIMEOUT)


def citation(doi, style: str) -> tuple[str, str]:
    """(HTML fragment, plain text) of the formatted citation in `style` (APA when unknown)."""
    style = style if style in citations.STYLES else citations.DEFAULT_STYLE

    def make():
        rec = record(doi)
        return citations.formatted_html(rec, style), citations.formatted(rec, style)

    return cache.get_or_set(f"doi-cite:{stamp(doi)}:{style}", make, TIMEOUT)
