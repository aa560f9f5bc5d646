"""Shared carts (issue #16), mounted at the site root next to the cart."""
from django.urls import path

from . import shared_carts

urlpatterns = [
    path("cart/share/", shared_carts.share, name="share_cart"),
    path("cart/shared/<str:name>/", shared_carts.shared, name="shared_cart"),
]
