from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("curation/", include("curation.urls")),
    path("proposals/", include("proposals.urls")),
    path("doi/", include("doi.urls")),
    path("nbia-api/", include("nbia.urls")),
    path("api/", include("api.urls")),
    # DICOMweb (issue #16): latest versions, and one pinned version; the OHIF viewer.
    path("dicomweb/", include("dicomweb.urls")),
    path("dicomweb/versions/<int:version_id>/", include("dicomweb.urls")),
    path("viewer/", include("dicomweb.viewer_urls")),
    # NBIA Data Retriever's download servlet and shared carts (issue #16).
    path("nbia-download/servlet/", include("nbia.retriever_urls")),
    path("", include("nbia.cart_urls")),
    path("", include("collections_app.data_urls")),
    path("", include("collections_app.urls")),
]
