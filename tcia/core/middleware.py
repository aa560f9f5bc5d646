"""Request hygiene shared by every view."""
from django.http import HttpResponseBadRequest


class RejectNulMiddleware:
    """A NUL character in the path or a parameter is refused with a 400 before any view runs:
    PostgreSQL cannot store or compare it, so it would otherwise end as a server error deep in
    a query. Form fields only: uploaded files may hold any byte. (CsrfViewMiddleware reads
    request.POST next anyway, so the body is parsed no more often than before.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or self._has_nul(request.GET) or (
            request.method == "POST" and self._has_nul(request.POST)
        ):
            return HttpResponseBadRequest(b"Bad request: parameters may not contain NUL characters.\n",
                                          content_type="text/plain; charset=utf-8")
        return self.get_response(request)

    @staticmethod
    def _has_nul(params) -> bool:
        return any("\x00" in key or any("\x00" in v for v in params.getlist(key)) for key in params)
