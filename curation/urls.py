from django.urls import include, path

from . import views

app_name = "curation"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("collections/<slug:slug>/start/", views.submission_create, name="submission_create"),
    path("submissions/<int:pk>/", views.submission_detail, name="submission"),
    path("submissions/<int:pk>/upload/", views.upload, name="upload"),
    path("submissions/<int:pk>/quarantine/", views.quarantine_list, name="quarantine"),
    path("submissions/<int:pk>/subjects/", views.subject_map, name="subjects"),
    path("subjects/<int:pk>/rename/", views.subject_rename, name="subject_rename"),
    path("quarantine/<int:pk>/download/", views.quarantine_download, name="quarantine_download"),
    path("batches/<int:pk>/", views.batch_detail, name="batch"),
    path("batches/<int:pk>/status.json", views.batch_status, name="batch_status"),
    path("batches/<int:pk>/close/", views.batch_close, name="batch_close"),
    path("batches/<int:pk>/retry/", views.batch_retry, name="batch_retry"),
    path("checks/", include("curation.checks.urls")),
    path("phi/", include("curation.phi.urls")),
    path("review/", include("curation.review.urls")),
]
