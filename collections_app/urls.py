from django.urls import path

from . import views

urlpatterns = [
    path("collections/<slug:slug>/new-page/", views.page_new, name="page_new"),
    path("collections/<slug:slug>/pages/<slug:page_slug>/edit/", views.page_edit, name="page_edit"),
    path("collections/<slug:slug>/pages/<slug:page_slug>/history/", views.page_history, name="page_history"),
    path("collections/<slug:slug>/pages/<slug:page_slug>/diff/", views.page_diff, name="page_diff"),
    path("collections/<slug:slug>/pages/<slug:page_slug>/revisions/<int:number>/", views.page_revision, name="page_revision"),
    path("collections/<slug:slug>/pages/<slug:page_slug>/revisions/<int:number>/revert/", views.page_revert, name="page_revert"),
]
