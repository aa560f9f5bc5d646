from django import template

from ..publishing import rows_for

register = template.Library()


@register.simple_tag
def supporting_versions(versions=None, version=None):
    """[(version, files)] of the version shown (landing page) or of every version row that is not
    withdrawn (collection page: rows as doi/_versions.html takes them), files first."""
    if version is not None and not getattr(version, "withdrawn_at", None):
        chosen = [version]
    else:
        chosen = [row["version"] for row in (versions or []) if not row["version"].withdrawn_at]
    out = []
    for v in chosen:
        files = rows_for(v)
        if files:
            out.append((v, files))
    return out


@register.simple_tag
def derived_links(dataset):
    from ..derived import landing_rows

    return landing_rows(dataset) if dataset is not None else {"links": [], "referenced": []}
