"""Curator pages, mounted at /curation/supporting/."""
from django.urls import path

from . import views

app_name = "supporting"
urlpatterns = [
    path("<slug:slug>/", views.file_list, name="list"),
    path("<slug:slug>/check/", views.recheck, name="check"),
    path("files/<int:pk>/", views.file_detail, name="detail"),
    path("files/<int:pk>/download/", views.file_download, name="file"),
    path("files/<int:pk>/dispositions/", views.dispositions, name="dispositions"),
    path("files/<int:pk>/subject-column/", views.subject_column, name="subject_column"),
    path("files/<int:pk>/detach/", views.detach, name="detach"),
]
