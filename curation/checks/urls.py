from django.urls import path

from . import views

app_name = "checks"
urlpatterns = [
    path("<slug:slug>/", views.findings, name="findings"),
    path("<slug:slug>/run/", views.run_checks, name="run"),
    path("<slug:slug>/bulk/", views.bulk, name="bulk"),
    path("<slug:slug>/edit/", views.tag_edit, name="tag_edit"),
    path("<slug:slug>/corrections/", views.corrections, name="corrections"),
    path("runs/<int:pk>/status.json", views.run_status, name="run_status"),
    path("findings/<int:pk>/", views.finding_detail, name="finding"),
    path("findings/<int:pk>/action/", views.finding_action, name="finding_action"),
    path("corrections/<int:pk>/", views.correction_detail, name="correction"),
    path("corrections/<int:pk>/status.json", views.correction_status, name="correction_status"),
    path("corrections/<int:pk>/undo/", views.correction_undo, name="correction_undo"),
    path("corrections/<int:pk>/retry/", views.correction_retry, name="correction_retry"),
    path("history/<str:kind>/<int:pk>/", views.history, name="history"),
]
