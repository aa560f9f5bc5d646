"""The public catalogue: search, facets with counts, sorting; every figure from released versions.

One query reads every collection the reader may see with its latest released version (a
catalogue holds hundreds of collections, not millions), two more its modalities and sites;
search adds the wiki text. Facets are counted in Python over that list, each with every other
filter applied (so a count says what clicking it would give). The view caches the rendered
result by a stamp of the visible collections, so a repeated request does one small query.
"""
import functools
from dataclasses import dataclass
from urllib.parse import urlencode

from django.db.models import Q

from collections_app.models import Access, Collection, License

FACETS = [
    # (parameter, label)
    ("cancer_type", "Cancer type"),
    ("modality", "Modality"),
    ("site", "Anatomic site"),
    ("license", "License"),
    ("access", "Access"),
    ("supporting", "Supporting data"),
]
SORTS = [
    ("name", "Name (A–Z)"), ("-name", "Name (Z–A)"), ("-size", "Size (largest first)"), ("size", "Size (smallest first)"),
    ("-subjects", "Subjects (most first)"), ("subjects", "Subjects (fewest first)"),
]
PARAMS = ["q"] + [k for k, _ in FACETS] + ["sort"]
LICENSE_LABELS = {c: label for c, label in License.choices}
ACCESS_LABELS = {c: label.split(" (")[0] for c, label in Access.choices}


def clean_params(query) -> dict:
    """The catalogue's parameters in a fixed order, without empty or unknown ones (the canonical
    URL of a result). Search words are joined by single spaces."""
    out = {}
    for key in PARAMS:
        value = " ".join((query.get(key) or "").split())
        if not value:
            continue
        if key == "sort" and (value not in dict(SORTS) or value == "name"):
            continue
        if key == "supporting" and value != "yes":
            continue
        out[key] = value[:200]
    return out


def query_string(params: dict) -> str:
    return ("?" + urlencode(params)) if params else ""


@dataclass
class Entry:
    collection: Collection
    modalities: list
    sites: list
    supporting: bool

    @property
    def values(self) -> dict:
        c = self.collection
        return {"cancer_type": {c.cancer_type} if c.cancer_type else set(), "modality": set(self.modalities),
                "site": set(self.sites), "license": {c.license}, "access": {c.access},
                "supporting": {"yes"} if self.supporting else set()}

    @property
    def size(self):
        return self.collection.size_bytes

    @property
    def subjects(self):
        return self.collection.subjects


class Catalogue:
    """Results and facets for one set of parameters, computed on first use."""

    def __init__(self, user, params: dict):
        self.user, self.params = user, params

    def _base(self):
        return Collection.objects.visible_to(self.user)

    @functools.cached_property
    def entries(self) -> list[Entry]:
        qs = self._base().select_related("latest_version").prefetch_related("modalities", "anatomic_sites")
        for word in self.params.get("q", "").split():
            qs = qs.filter(
                Q(title__icontains=word) | Q(short_name__icontains=word) | Q(summary__icontains=word)
                | Q(description__icontains=word) | Q(cancer_type__icontains=word)
                | Q(pk__in=Collection.objects.filter(pages__current__body__icontains=word).values("pk"))
            )
        supported = set(Collection.objects.filter(derived_datasets__status="published").values_list("pk", flat=True))
        # ... or whose latest version carries supporting files (tables, annotations, documents, slides)
        supported |= set(Collection.objects.filter(latest_version__supporting_entries__isnull=False).values_list("pk", flat=True))
        return [Entry(c, [m.code for m in c.modalities.all()], [s.name for s in c.anatomic_sites.all()], c.pk in supported)
                for c in qs]

    def _matches(self, entry: Entry, skip: str | None = None) -> bool:
        values = entry.values
        for key, _ in FACETS:
            if key != skip and key in self.params and self.params[key] not in values[key]:
                return False
        return True

    @functools.cached_property
    def results(self) -> list[Collection]:
        found = [e for e in self.entries if self._matches(e)]
        sort = self.params.get("sort", "name")
        key = sort.lstrip("-")
        if key == "name":
            found.sort(key=lambda e: e.collection.title.lower(), reverse=sort.startswith("-"))
        else:
            found.sort(key=lambda e: e.collection.title.lower())
            found.sort(key=lambda e: getattr(e, key) or 0, reverse=sort.startswith("-"))
        return [e.collection for e in found]

    @functools.cached_property
    def total(self) -> int:
        return self._base().count()

    def _label(self, key, value):
        if key == "license":
            return LICENSE_LABELS.get(value, value)
        if key == "access":
            return ACCESS_LABELS.get(value, value)
        if key == "supporting":
            return "Has supporting data"
        return value

    @functools.cached_property
    def facets(self) -> list[dict]:
        """[{key, label, values: [{value, label, count, active, url}]}], values by count then name."""
        out = []
        for key, label in FACETS:
            counts: dict[str, int] = {}
            for entry in self.entries:
                if self._matches(entry, skip=key):
                    for v in entry.values[key]:
                        counts[v] = counts.get(v, 0) + 1
            active = self.params.get(key)
            if active and active not in counts:
                counts[active] = 0
            values = []
            for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], self._label(key, kv[0]).lower())):
                params = dict(self.params)
                if v == active:
                    params.pop(key)
                else:
                    params[key] = v
                values.append({"value": v, "label": self._label(key, v), "count": n, "active": v == active,
                               "url": query_string(clean_params(params)) or "?"})
            out.append({"key": key, "label": label, "values": values})
        return out

    @property
    def active(self) -> list[dict]:
        """The filters in force, each with the URL that removes it."""
        out = []
        for key, label in [("q", "Search")] + FACETS:
            if key in self.params:
                params = {k: v for k, v in self.params.items() if k != key}
                out.append({"label": label, "value": self._label(key, self.params[key]),
                            "url": query_string(clean_params(params)) or "?"})
        return out

    @property
    def sort(self):
        return self.params.get("sort", "name")

    @property
    def sorts(self):
        return SORTS

    @property
    def hidden_params(self):
        """What the search and sort forms carry along, so applying one keeps the other filters."""
        return [(k, v) for k, v in self.params.items() if k not in ("q", "sort")]
