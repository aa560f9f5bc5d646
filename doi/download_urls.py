"""Downloads of published subsets, beside the archive's downloads. Mounted at the site root."""
from django.urls import path

from . import views

urlpatterns = [
    path("downloads/subsets/<int:pk>.zip", views.subset_zip, name="data_subset_zip"),
    path("downloads/subsets/<int:pk>.tcia", views.subset_manifest, name="data_subset_manifest"),
]
