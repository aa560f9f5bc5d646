"""Error pages. A 400 says why when the reason is ours to tell (tcia.core.params.ParameterError)."""
from django.http import HttpResponseBadRequest
from django.views.defaults import bad_request as django_bad_request

from .params import ParameterError


def bad_request(request, exception=None, template_name="400.html"):
    if isinstance(exception, ParameterError):
        return HttpResponseBadRequest(f"Bad request: {exception}\n".encode(), content_type="text/plain; charset=utf-8")
    return django_bad_request(request, exception, template_name=template_name)
