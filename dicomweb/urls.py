"""DICOMweb routes. Mounted twice in tcia/urls.py: at /dicomweb/ (the latest version of every
collection) and at /dicomweb/versions/<version_id>/ (one frozen version)."""
from django.urls import path

from . import views as v

S = "studies/<str:study>"
SE = S + "/series/<str:series>"
I = SE + "/instances/<str:instance>"

urlpatterns = [
    path("studies", v.search_studies),
    path("series", v.search_series),
    path("instances", v.search_instances),
    path(S, v.retrieve),
    path(S + "/metadata", v.metadata),
    path(S + "/rendered", v.rendered),
    path(S + "/thumbnail", v.rendered, {"thumbnail": True}),
    path(S + "/series", v.search_series),
    path(S + "/instances", v.search_instances),
    path(SE, v.retrieve),
    path(SE + "/metadata", v.metadata),
    path(SE + "/rendered", v.rendered),
    path(SE + "/thumbnail", v.rendered, {"thumbnail": True}),
    path(SE + "/instances", v.search_instances),
    path(I, v.retrieve),
    path(I + "/metadata", v.metadata),
    path(I + "/rendered", v.rendered),
    path(I + "/thumbnail", v.rendered, {"thumbnail": True}),
    path(I + "/frames/<str:frame_list>", v.frames),
    path(I + "/frames/<str:frame_list>/rendered", v.rendered),
    path(I + "/frames/<str:frame_list>/thumbnail", v.rendered, {"thumbnail": True}),
    path(I + "/bulkdata/<str:key>", v.bulkdata),
]
