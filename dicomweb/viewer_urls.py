"""/viewer/…: OHIF's page for every route that is not one of its assets (WhiteNoise serves those),
and the per-version configuration."""
from django.urls import path, re_path

from . import viewer

urlpatterns = [
    path("app-config-<int:version_id>.js", viewer.version_config, name="ohif_version_config"),
    re_path(r"^(?P<path>.*)$", viewer.index, name="ohif_viewer"),
]
