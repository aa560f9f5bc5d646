"""Refusing downloads of files that failed the fixity audit, before any byte is sent.

Every download path (single file, zips, NBIA getImage/getSingleImage, the Retriever's servlet,
DICOMweb WADO) calls `refuse_blocked(storage names)` while it builds its response, so a damaged
file gives a clear message instead of a corrupt or truncated stream. FileBlockedMiddleware turns
the exception into a 503 for views that do not answer it themselves (DICOMweb and NBIA wrap it in
their own error formats)."""
from collections.abc import Iterable

from django.http import HttpResponse

MESSAGE = ("{what} failed the archive's integrity (fixity) check and {verb} withheld until a curator has "
           "re-verified or restored {it}; nothing was sent. The archive staff have been told.")


class FileBlocked(Exception):
    status = 503

    def __init__(self, blocked: int, total: int):
        self.blocked, self.total = blocked, total
        if total == 1:
            what, verb, it = "This file", "is", "it"
        else:
            what, verb, it = f"{blocked} of the {total} files of this download", "are" if blocked > 1 else "is", \
                "them" if blocked > 1 else "it"
        self.message = MESSAGE.format(what=what, verb=verb, it=it)
        super().__init__(self.message)


def blocked_names(storage: str = "archive") -> set[str]:
    """Names of the files of `storage` downloads must refuse (usually none: one indexed query)."""
    from .models import FixityRecord

    return set(FixityRecord.objects.filter(blocked=True, storage=storage).values_list("name", flat=True))


def refuse_blocked(names: Iterable[str], storage: str = "archive") -> None:
    """Raise FileBlocked when any of `names` (storage names) failed the audit and is unresolved."""
    blocked = blocked_names(storage)
    if not blocked:
        return
    names = list(names)
    hit = sum(1 for n in names if n in blocked)
    if hit:
        raise FileBlocked(hit, len(names))


def response(exc: FileBlocked) -> HttpResponse:
    out = HttpResponse(f"{exc.message}\n".encode(), status=exc.status, content_type="text/plain; charset=utf-8")
    out["Cache-Control"] = "no-store"
    out["Retry-After"] = "3600"
    return out


class FileBlockedMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, FileBlocked):
            return response(exception)
        return None
