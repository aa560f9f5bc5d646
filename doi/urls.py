"""Mounted at /doi/. DOIs contain '/', so the resolver uses a path converter and comes last."""
from django.urls import path, register_converter

from . import views


class DOIConverter:
    # "10.<registrant>/<suffix>", the suffix may contain '/' (e.g. legacy 10.7937/K9/TCIA.2015.X).
    regex = r"10\.[0-9]{4,9}(?:\.[0-9]+)*/.+"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(DOIConverter, "doi")

app_name = "doi"
urlpatterns = [
    path("", views.doi_list, name="list"),
    path("subsets/request/", views.subset_request, name="subset_request"),
    path("subsets/", views.subset_queue, name="subset_queue"),
    path("subsets/<int:pk>/", views.subset_detail, name="subset_detail"),
    path("subsets/<int:pk>/decide/", views.subset_decide, name="subset_decide"),
    path("derived/new/", views.derived_new, name="derived_new"),
    path("derived/<slug:slug>/files/<str:name>", views.derived_file, name="derived_file"),
    path("export/<str:fmt>/<doi:doi>", views.export, name="export"),
    path("<doi:doi>", views.resolver, name="resolve"),
]
