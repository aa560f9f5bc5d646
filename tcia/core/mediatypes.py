"""Reading an HTTP Accept header: its media ranges with their parameters and q-values, in the
order a server should consider them (highest q first, then as written). Shared by the DOI
resolver's content negotiation and DICOMweb."""
import re

_ITEMS = re.compile(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)")  # commas outside quoted parameter values


def media_ranges(header: str) -> list[tuple[str, dict]]:
    """[(media type in lower case, {parameter: value})] best first; q=0 ranges are left out."""
    ranked = []
    for index, item in enumerate(_ITEMS.split(header or "")):
        pieces = [p.strip() for p in item.split(";")]
        if not pieces[0]:
            continue
        params = {}
        for p in pieces[1:]:
            k, _, v = p.partition("=")
            params[k.strip().lower()] = v.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 1.0
        if q > 0:
            ranked.append((-q, index, pieces[0].lower(), params))
    return [(media, params) for _q, _i, media, params in sorted(ranked)]
