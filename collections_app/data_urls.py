"""Series browsing, cart and download routes. Mounted at the site root."""
from django.urls import path

from . import views_data as v

urlpatterns = [
    path("collections/<slug:slug>/series/", v.series_list, name="data_series"),
    path("collections/<slug:slug>/agreement/", v.agreement, name="data_agreement"),
    path("cart/", v.cart, name="data_cart"),
    path("downloads/cart.zip", v.cart_zip, name="data_cart_zip"),
    path("downloads/cart.tcia", v.cart_manifest, name="data_cart_manifest"),
    path("downloads/versions/<int:version_id>.zip", v.version_zip, name="data_version_zip"),
    path("downloads/versions/<int:version_id>.tcia", v.version_manifest, name="data_version_manifest"),
    path("downloads/versions/<int:version_id>/digest.csv", v.version_digest, {"per": "image"}, name="data_version_digest"),
    path("downloads/versions/<int:version_id>/digest-series.csv", v.version_digest, {"per": "series"}, name="data_version_digest_series"),
    path("downloads/versions/<int:version_id>/images/<str:sop_uid>.dcm", v.version_file, name="data_version_file"),
    path("downloads/series/<str:uid>.zip", v.series_zip, name="data_series_zip"),
    path("downloads/studies/<str:uid>.zip", v.study_zip, name="data_study_zip"),
]
