"""Shared carts: a visitor saves the cart under a name and shares its link; NBIA's v1
`getContentsByName?name=<name>` (tcia_utils `getSharedCart`) lists its series.

As NBIA's V1_getSharedListContentsByName answers: the 15 first v1 getSeries columns plus
"Date Released" (with its space), series of public collections only, always JSON; no name →
400 "A parameter, name is required for this API call.".
"""
import math
import re

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from api.throttling import throttled
from collections_app.models import Access
from collections_app.selectors import released_series
from tcia.core.audit import log

from .models import SharedCart
from .queries import SERIES_V1, ApiError, _series_row

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
COLUMNS = SERIES_V1[:15] + ["Date Released"]
CART_KEY = "cart_series"  # the session key of collections_app.views_data's cart


class CartError(ValueError):
    pass


@transaction.atomic
def share_cart(*, name: str, series_ids, user) -> SharedCart:
    """Save the released series among `series_ids` as the shared cart `name`."""
    name = (name or "").strip()
    if not NAME.match(name):
        raise CartError("A cart name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.")
    series = list(released_series(user).filter(pk__in=list(series_ids)).values_list("pk", flat=True))
    if not series:
        raise CartError("The cart is empty: add series before sharing it.")
    try:
        with transaction.atomic():
            cart = SharedCart.objects.create(name=name, created_by=user if user.is_authenticated else None)
    except IntegrityError:
        raise CartError(f"The name {name!r} is taken; choose another.") from None
    cart.series.set(series)
    log("nbia.share_cart", actor=user if user.is_authenticated else None, obj=cart, name=name, series=len(series))
    return cart


def cart_series(cart: SharedCart, user):
    """The cart's series that `user` may still see (released, visible)."""
    return released_series(user).filter(pk__in=cart.series.values("pk"))


def get_contents_by_name(request, ctx, params):
    from . import formats

    name = (params.get("name") or "").strip()
    if not name:
        raise ApiError("A parameter, name is required for this API call.")
    cart = SharedCart.objects.filter(name=name).first()
    rows = []
    if cart is not None:
        from .queries import SERIES_FIELDS

        qs = cart_series(cart, ctx.user).filter(collection__access=Access.PUBLIC)
        for values in qs.values_list(*SERIES_FIELDS).order_by("series_instance_uid"):
            s = dict(zip(SERIES_FIELDS, values))
            info = ctx.collections.get(s["collection_id"])
            if info is None:
                continue
            a = _series_row(ctx, s, info)
            a["Date Released"] = a["DateReleased"]
            rows.append([a[c] for c in COLUMNS])
    return formats.render(COLUMNS, rows, "json")


# ------------------------------------------------------------------ pages

@require_POST
def share(request):
    # Anyone may save a cart under a free name, so saving counts against the API's throttle.
    wait = throttled(request)
    if wait is not None:
        messages.error(request, f"Too many requests from your address: try again in {math.ceil(wait)} seconds.")
        return redirect(reverse("data_cart"))
    ids = [int(i) for i in request.session.get(CART_KEY, [])]
    try:
        cart = share_cart(name=request.POST.get("name", ""), series_ids=ids, user=request.user)
    except CartError as exc:
        messages.error(request, str(exc))
        return redirect(reverse("data_cart"))
    messages.success(request, f"Cart shared as {cart.name}.")
    return redirect(reverse("shared_cart", args=[cart.name]))


def shared(request, name):
    cart = SharedCart.objects.filter(name=name).first()
    if cart is None:
        raise Http404("No shared cart has this name.")
    series = cart_series(cart, request.user).select_related("collection", "subject").order_by(
        "collection__title", "subject__patient_id", "series_instance_uid")
    return render(request, "nbia/shared_cart.html", {
        "cart": cart, "series": series,
        "api_url": request.build_absolute_uri(f"/nbia-api/services/v1/getContentsByName?name={cart.name}"),
        "link": request.build_absolute_uri(reverse("shared_cart", args=[cart.name])),
    })
