"""The collection page and the curators' publication pages. Mounted at the site root, before
collections_app's routes (the wiki's edit, history and revision pages stay there)."""
from django.urls import path

from . import views

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("collections/<slug:slug>/", views.collection_detail, name="collection_detail"),
    path("collections/<slug:slug>/pages/<slug:page_slug>/", views.collection_detail, name="page_detail"),
    path("collections/<slug:slug>/publish/", views.publish_page, name="data_publish"),
    path("collections/<slug:slug>/versions/<int:number>/published/", views.published, name="publication_done"),
    path("collections/<slug:slug>/versions/<int:number>/withdraw/", views.withdraw_version, name="data_withdraw"),
]
