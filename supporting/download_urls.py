"""A version's supporting files and their digest, beside the version's other downloads (site root)."""
from django.urls import path

from . import views

urlpatterns = [
    path("downloads/versions/<int:version_id>/supporting.csv", views.version_digest, name="supporting_digest"),
    path("downloads/versions/<int:version_id>/supporting/<str:name>", views.version_file, name="supporting_download"),
]
