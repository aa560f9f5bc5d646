from django.urls import path

from . import views

app_name = "phi"
urlpatterns = [
    path("<slug:slug>/", views.report_page, name="report"),
    path("<slug:slug>/mark/", views.mark, name="mark"),
    path("<slug:slug>/apply/", views.apply, name="apply"),
    path("<slug:slug>/sign/", views.sign, name="sign"),
    path("<slug:slug>/export.csv", views.export, name="export"),
    path("<slug:slug>/import/", views.import_csv, name="import"),
    path("<slug:slug>/import/<int:pk>/", views.import_preview, name="import_preview"),
    path("<slug:slug>/import/<int:pk>/apply/", views.import_apply, name="import_apply"),
    path("<slug:slug>/import/<int:pk>/discard/", views.import_discard, name="import_discard"),
    path("<slug:slug>/deid-score/", views.selfscore_page, name="selfscore"),
]
