from django.urls import path

from . import views

app_name = "phi"
urlpatterns = [
    path("<slug:slug>/", views.report_page, name="report"),
    path("<slug:slug>/mark/", views.mark, name="mark"),
    path("<slug:slug>/apply/", views.apply, name="apply"),
    path("<slug:slug>/sign/", views.sign, name="sign"),
    path("<slug:slug>/export.csv", views.export, name="export"),
]
