"""/nbia-download/servlet/…: NBIA Data Retriever's download server (nbia/retriever.py)."""
from django.urls import path

from . import retriever

urlpatterns = [
    path("DownloadServletVersion", retriever.version, name="retriever_version"),
    path("DownloadServlet", retriever.download, name="retriever_download"),
    path("DownloadServletV4", retriever.download, name="retriever_download_v4"),
]
