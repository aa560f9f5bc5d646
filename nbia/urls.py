"""Mounted at /nbia-api/: the NBIA-compatible services and the token endpoint."""
from django.urls import path

from . import views

app_name = "nbia"
urlpatterns = [
    path("oauth/token", views.oauth_token, name="oauth_token"),
    path("services/<str:generation>/<str:endpoint>", views.service, name="service"),
]
