"""/viewer/…: OHIF's page for every route that is not one of its assets (WhiteNoise serves those)."""
from django.urls import re_path

from . import viewer

urlpatterns = [re_path(r"^(?P<path>.*)$", viewer.index, name="ohif_viewer")]
