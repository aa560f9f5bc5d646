"""Reading whole-number query parameters (limit, offset, start, size) with errors that name them."""


def whole_number(params, name: str, default, minimum: int = 0):
    """The integer `params[name]`, `default` when absent or empty; ValueError naming the
    parameter when it is not a whole number or is below `minimum`."""
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"The {name} parameter must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise ValueError(f"The {name} parameter must be at least {minimum}.")
    return value
