"""The real client address of a request, for throttles and login lockouts.

`X-Forwarded-For` is a header any client can write, so it is believed only when the peer that
opened the connection (REMOTE_ADDR) is one of the reverse proxies named in
`TCIA_TRUSTED_PROXIES` (addresses or networks, comma-separated). Then the address is the
right-most one in the header that is not itself a trusted proxy: each proxy appends the peer it
saw, so anything to the left of that was written by the client and proves nothing.
"""
import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=8)
def _networks(spec: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def trusted_networks() -> tuple:
    return _networks(tuple(getattr(settings, "TCIA_TRUSTED_PROXIES", ()) or ()))


def _parse(text: str):
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[::1]:443"
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.5:5123"
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address, networks) -> bool:
    return address is not None and any(address in net for net in networks)


def client_ip(request) -> str:
    """The address throttles and lockouts count against (never a value the client chose freely)."""
    peer_text = request.META.get("REMOTE_ADDR", "") or ""
    peer = _parse(peer_text)
    networks = trusted_networks()
    if not _trusted(peer, networks):
        return str(peer) if peer is not None else peer_text
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for hop in reversed([h for h in forwarded.split(",") if h.strip()]):
        address = _parse(hop)
        if address is None:
            break  # a malformed hop: stop at the last proxy we trust
        if not _trusted(address, networks):
            return str(address)
    return str(peer)


def axes_client_ip(request, *args, **kwargs) -> str:
    """django-axes' AXES_CLIENT_IP_CALLABLE: the same address the throttles use."""
    return client_ip(request)
