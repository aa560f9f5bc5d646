"""DICOMweb routes. Mounted twice in tcia/urls.py: at /dicomweb/ (the latest version of every
collection) and at /dicomweb/versions/<version_id>/ (one frozen version), as the URL
namespaces `dicomweb` and `dicomweb_version` (`reverse("dicomweb_version:series", kwargs={
"version_id": …, "study": …, "series": …})`)."""
from django.urls import path

from . import views as v

S = "studies/<str:study>"
SE = S + "/series/<str:series>"
I = SE + "/instances/<str:instance>"

app_name = "dicomweb"
urlpatterns = [
    # QIDO-RS
    path("studies", v.search_studies, name="search_studies"),
    path("series", v.search_series, name="search_series"),
    path("instances", v.search_instances, name="search_instances"),
    path(S + "/series", v.search_series, name="search_study_series"),
    path(S + "/instances", v.search_instances, name="search_study_instances"),
    path(SE + "/instances", v.search_instances, name="search_series_instances"),
    # WADO-RS
    path(S, v.retrieve, name="study"),
    path(S + "/metadata", v.metadata, name="study_metadata"),
    path(S + "/rendered", v.rendered, name="study_rendered"),
    path(S + "/thumbnail", v.rendered, {"thumbnail": True}, name="study_thumbnail"),
    path(SE, v.retrieve, name="series"),
    path(SE + "/metadata", v.metadata, name="series_metadata"),
    path(SE + "/rendered", v.rendered, name="series_rendered"),
    path(SE + "/thumbnail", v.rendered, {"thumbnail": True}, name="series_thumbnail"),
    path(I, v.retrieve, name="instance"),
    path(I + "/metadata", v.metadata, name="instance_metadata"),
    path(I + "/rendered", v.rendered, name="instance_rendered"),
    path(I + "/thumbnail", v.rendered, {"thumbnail": True}, name="instance_thumbnail"),
    path(I + "/frames/<str:frame_list>", v.frames, name="frames"),
    path(I + "/frames/<str:frame_list>/rendered", v.rendered, name="frames_rendered"),
    path(I + "/frames/<str:frame_list>/thumbnail", v.rendered, {"thumbnail": True}, name="frames_thumbnail"),
    path(I + "/bulkdata/<str:key>", v.bulkdata, name="bulkdata"),
]
