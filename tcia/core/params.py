"""Parsing query parameters into values, with a 400 that names the parameter and the reason.

Views call these instead of `int(request.GET[...])`, so malformed input is the client's error
(ParameterError → 400 through tcia.core.errors.bad_request), never a 500.
"""
from django.core.exceptions import BadRequest

MAX_INT = 2**63 - 1  # what every database here can compare against


class ParameterError(BadRequest, ValueError):
    """A bad query parameter. Its message is shown to the client: name the parameter and the
    rule, never echo data from the archive."""


def whole_number(params, name: str, default, minimum: int | None = 0, maximum: int = MAX_INT):
    """The integer `params[name]` (any mapping), `default` when absent or empty; ParameterError
    naming the parameter when it is not a whole number or out of range."""
    raw = params.get(name)
    if raw is None or str(raw).strip() == "":
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ParameterError(f"The {name} parameter must be a whole number.") from None
    if (minimum is not None and value < minimum) or value > maximum:
        low = f"at least {minimum}" if minimum is not None else ""
        raise ParameterError(f"The {name} parameter must be {low}{' and ' if low else ''}at most {maximum}.")
    return value


def int_param(request, name: str, default: int, *, minimum: int | None = None, maximum: int = MAX_INT) -> int:
    return whole_number(request.GET, name, default, minimum=minimum, maximum=maximum)
