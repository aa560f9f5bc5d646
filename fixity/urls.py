from django.urls import path

from . import views

app_name = "fixity"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("run/", views.run_now, name="run_now"),
    path("failures/<int:pk>/", views.failure, name="failure"),
    path("failures/<int:pk>/reverify/", views.reverify, name="reverify"),
    path("failures/<int:pk>/restore/", views.restore, name="restore"),
]
