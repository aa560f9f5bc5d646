from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

handler400 = "tcia.core.errors.bad_request"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Password reset never says whether an address has an account (Django's views always answer "done").
    path("accounts/password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("accounts/password-reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("accounts/password-reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("curation/", include("curation.urls")),
    path("proposals/", include("proposals.urls")),
    path("doi/", include("doi.urls")),
    path("nbia-api/", include("nbia.urls")),
    path("api/", include("api.urls")),
    # DICOMweb (issue #16): latest versions, and one pinned version; the OHIF viewer.
    path("dicomweb/", include("dicomweb.urls", namespace="dicomweb")),
    path("dicomweb/versions/<int:version_id>/", include("dicomweb.urls", namespace="dicomweb_version")),
    path("viewer/", include("dicomweb.viewer_urls")),
    # NBIA Data Retriever's download servlet and shared carts (issue #16).
    path("nbia-download/servlet/", include("nbia.retriever_urls")),
    path("", include("nbia.cart_urls")),
    path("", include("collections_app.data_urls")),
    path("", include("collections_app.urls")),
]
