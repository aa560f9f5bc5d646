"""Where DOIs are registered.

`LocalProvider` is the default install: the archive is its own registry (its resolver at
/doi/<doi> answers for the prefix in settings), so nothing leaves the machine.
`DataCiteProvider` drives DataCite's REST API through `datacite.DataCiteRESTClient`.

Both take the complete DataCite JSON every time: DataCite replaces whole arrays on PUT, so
partial updates (e.g. only the new relatedIdentifier) would drop the others.
"""
import copy
import secrets
import string

from django.utils import timezone

from . import conf

SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


def new_suffix(year: int | None = None) -> str:
    """TCIA.<year>.<8 random characters> (DOIs are case-insensitive; we store lower case)."""
    year = year or timezone.now().year
    random = "".join(secrets.choice(SUFFIX_ALPHABET) for _ in range(8))
    return f"tcia.{year}.{random}"


class ProviderError(RuntimeError):
    pass


class LocalProvider:
    """The archive itself is the registry: registering is recording the state in our database."""

    name = "local"

    def __init__(self, prefix: str | None = None):
        self.prefix = prefix or conf.doi_prefix()

    def new_doi(self) -> str:
        return f"{self.prefix}/{new_suffix()}".lower()

    def reserve(self, doi: str, metadata: dict) -> None:
        """Create the DOI as a draft (not resolvable, deletable)."""

    def publish(self, doi: str, metadata: dict, url: str) -> None:
        """Send metadata and URL and make the DOI findable."""

    def update(self, doi: str, metadata: dict, url: str) -> None:
        """Send new metadata/URL; the state does not change."""

    def hide(self, doi: str, metadata: dict, url: str) -> None:
        """Findable → registered (withdrawn data: still resolves, to its tombstone)."""


class DataCiteProvider(LocalProvider):
    name = "datacite"

    def __init__(self, client=None):
        prefix = conf.get("DATACITE_PREFIX", "") or conf.doi_prefix()
        super().__init__(prefix)
        if client is None:
            from datacite import DataCiteRESTClient

            username = conf.get("DATACITE_USERNAME")
            password = conf.get("DATACITE_PASSWORD")
            if not username or not password:
                raise ProviderError("DATACITE_USERNAME and DATACITE_PASSWORD must be set for the DataCite provider")
            test_mode = conf.get("DATACITE_TEST_MODE", "0").lower() in {"1", "true", "yes", "on"}
            url = conf.get("DATACITE_URL", "") or None
            # The client ignores url= in test mode; an explicit URL (a local server) wins.
            client = DataCiteRESTClient(
                username=username, password=password, prefix=prefix, test_mode=test_mode and not url, url=url, timeout=30
            )
        self.client = client

    def _call(self, fn, *args, **kwargs):
        from datacite.errors import DataCiteError

        try:
            return fn(*args, **kwargs)
        except (DataCiteError, OSError) as exc:
            raise ProviderError(f"DataCite: {exc.__class__.__name__}: {exc}") from exc
        except Exception as exc:  # requests' exceptions and the like
            raise ProviderError(f"DataCite: {exc.__class__.__name__}: {exc}") from exc

    # The client mutates the dicts it is given (it adds prefix/event/url), so pass copies.
    def reserve(self, doi, metadata):
        self._call(self.client.draft_doi, metadata=copy.deepcopy(metadata), doi=doi)

    def publish(self, doi, metadata, url):
        self._call(self.client.update_doi, doi, metadata=copy.deepcopy(metadata), url=url)
        self._call(self.client.show_doi, doi)

    def update(self, doi, metadata, url):
        self._call(self.client.update_doi, doi, metadata=copy.deepcopy(metadata), url=url)

    def hide(self, doi, metadata, url):
        self._call(self.client.update_doi, doi, metadata=copy.deepcopy(metadata), url=url)
        self._call(self.client.hide_doi, doi)


def get_provider(name: str | None = None):
    name = name or conf.provider_name()
    if name == "local":
        return LocalProvider()
    if name == "datacite":
        return DataCiteProvider()
    raise ProviderError(f"unknown DOI provider {name!r} (use 'local' or 'datacite')")
