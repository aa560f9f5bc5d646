"""Request hygiene shared by every view."""
from django.http import HttpResponseBadRequest


class RejectNulMiddleware:
    """A NUL character in the path or a parameter is refused with a 400 before any view runs:
    PostgreSQL cannot store or compare it, so it would otherwise end as a server error deep in
    a query. Form fields only: uploaded files may hold any byte.

    A multipart body is checked only for views that CsrfViewMiddleware reads anyway (not
    csrf_exempt ones), so a view that streams its own request body still can."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if "\x00" in request.path or self._has_nul(request.GET):
            return self._refuse()
        if request.method == "POST":
            form = request.content_type == "application/x-www-form-urlencoded"
            multipart = request.content_type == "multipart/form-data" and not getattr(view_func, "csrf_exempt", False)
            if (form or multipart) and self._has_nul(request.POST):
                return self._refuse()
        return None

    @staticmethod
    def _refuse():
        return HttpResponseBadRequest(b"Bad request: parameters may not contain NUL characters.\n",
                                      content_type="text/plain; charset=utf-8")

    @staticmethod
    def _has_nul(params) -> bool:
        return any("\x00" in key or any("\x00" in v for v in params.getlist(key)) for key in params)
