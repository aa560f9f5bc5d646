from django.urls import path

from . import views

urlpatterns = [
    path("collections/<slug:slug>/report-a-problem/", views.report, name="report_problem"),
]
