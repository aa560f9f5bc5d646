"""Date shifting for DA / DT values (and dates embedded in strings)."""
from __future__ import annotations

import datetime as _dt

_ORD_CACHE: dict = {}


class BadDate(ValueError):
    pass


def shift_da(value: str, days: int) -> str:
    """Shift one DA value (``YYYYMMDD``; also ``YYYY-MM-DD``/``YYYY.MM.DD`` legacy forms
    and ``A-B`` ranges). Raises BadDate when it cannot be parsed."""
    v = value.strip(" \x00")
    if not v:
        return v
    key = (v, days)
    r = _ORD_CACHE.get(key)
    if r is not None:
        return r
    if len(v) == 8 and v.isdigit():
        r = _shift8(v, days)
    elif len(v) == 10 and v[4] in "-./" and v[7] == v[4] and (v[:4] + v[5:7] + v[8:]).isdigit():
        r = _shift8(v[:4] + v[5:7] + v[8:], days)
    elif "-" in v:
        parts = v.split("-")
        if len(parts) != 2:
            raise BadDate(value)
        r = "-".join(shift_da(p, days) if p else "" for p in parts)
    else:
        raise BadDate(value)
    if len(_ORD_CACHE) > 100_000:
        _ORD_CACHE.clear()
    _ORD_CACHE[key] = r
    return r


def _shift8(v: str, days: int) -> str:
    try:
        d = _dt.date(int(v[:4]), int(v[4:6]), int(v[6:8]))
        d = _dt.date.fromordinal(d.toordinal() + days)
    except (ValueError, OverflowError) as exc:
        raise BadDate(v) from exc
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def shift_dt(value: str, days: int) -> str:
    """Shift the date part of a DT value ``YYYY[MM[DD[HH...]]][&ZZXX]``; keeps precision."""
    v = value.strip(" \x00")
    if not v:
        return v
    if "-" in v[1:] and not _looks_like_offset(v):
        a, _, b = v.partition("-")
        return (shift_dt(a, days) if a else "") + "-" + (shift_dt(b, days) if b else "")
    n = 0
    while n < len(v) and n < 8 and v[n].isdigit():
        n += 1
    if n < 4:
        raise BadDate(value)
    if n >= 8:
        return _shift8(v[:8], days) + v[8:]
    # YYYY or YYYYMM: shift the first day of the period, keep the precision
    pad = v[:n] + "0101"[n - 4:]
    return _shift8(pad[:8], days)[:n] + v[n:]


def _looks_like_offset(v: str) -> bool:
    # "YYYYMMDDHHMMSS-0500": one '-' followed by exactly 4 digits at the end
    i = v.rfind("-")
    return v.count("-") == 1 and len(v) - i == 5 and v[i + 1:].isdigit() and i >= 8


def shift_any(value: str, days: int) -> str:
    """Shift a DA-, DT- or date-looking string (for private 'date' dispositions)."""
    v = value.strip(" \x00")
    if len(v) == 8 or (len(v) == 10 and not v.isdigit()):
        return shift_da(v, days)
    return shift_dt(v, days)
