"""Per-request facts every NBIA endpoint needs, read in a fixed number of queries: which
collections the caller may see, which of them the caller may download (Authorized), and each
collection's name, license and DOI URL."""
import time
from functools import cached_property
from dataclasses import dataclass, field

from collections_app.access import accepted_collection_ids
from collections_app.models import LICENSE_SHORT, LICENSE_URLS, Access, Collection, License
from tcia.core import roles

_DOI_CACHE: dict[int, tuple[float, str]] = {}
_DOI_TTL = 60.0


def clear_doi_cache() -> None:
    _DOI_CACHE.clear()


def doi_url(collection_id: int) -> str:
    """The collection's DOI URL from the doi app when it provides one, else "" (cached briefly,
    so a listing across many collections does not cost a query per collection every time)."""
    now = time.monotonic()
    hit = _DOI_CACHE.get(collection_id)
    if hit and now - hit[0] < _DOI_TTL:
        return hit[1]
    try:
        from doi.selectors import doi_url_for_collection  # provided by the publication work
    except ImportError:
        url = ""
    else:
        try:
            url = doi_url_for_collection(Collection(pk=collection_id)) or ""
        except Exception:  # a DOI lookup must never break a metadata answer
            url = ""
    _DOI_CACHE[collection_id] = (now, url)
    return url


@dataclass
class CollectionInfo:
    id: int
    name: str
    license: str
    access: str
    status: str
    species: str
    authorized: int = 1

    @cached_property
    def license_name(self) -> str:
        return License(self.license).label if self.license in License.values else self.license

    @cached_property
    def license_short(self) -> str:
        return LICENSE_SHORT.get(self.license, self.license)

    @cached_property
    def license_uri(self) -> str:
        return LICENSE_URLS.get(self.license, "")

    @cached_property
    def doi_url(self) -> str:
        return doi_url(self.id)


@dataclass
class Ctx:
    user: object
    generation: str  # "v1", "v2" or "v4"
    collections: dict[int, CollectionInfo] = field(default_factory=dict)
    date_cache: dict = field(default_factory=dict)

    @classmethod
    def build(cls, user, generation: str) -> "Ctx":
        ctx = cls(user=user, generation=generation)
        rows = list(
            Collection.objects.visible_to(user).values("id", "short_name", "license", "access", "status", "species")
        )
        curator = roles.is_curator(user)
        # Authorized is the data level of collections_app.access, decided there.
        accepted = accepted_collection_ids(user) if not curator and any(r["access"] == Access.LIMITED for r in rows) else set()
        for r in rows:
            info = CollectionInfo(r["id"], r["short_name"], r["license"], r["access"], r["status"], r["species"])
            if not curator and r["access"] == Access.LIMITED:
                info.authorized = 1 if r["id"] in accepted else 0
            ctx.collections[r["id"]] = info
        return ctx

    def ids_named(self, name: str | None) -> list[int] | None:
        """Collection ids whose name matches `name` case-insensitively; None when no filter."""
        if not name:
            return None
        wanted = name.strip().upper()
        return [c.id for c in self.collections.values() if c.name.upper() == wanted]

    @property
    def is_v4(self) -> bool:
        return self.generation == "v4"
