from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from tcia.core import site

handler400 = "tcia.core.errors.bad_request"
# Django's account views put the request's host in `site_name` (django.contrib.sites is not
# installed); the portal's name comes from settings instead, as on every other page.
NAMED = {"extra_context": {"site_name": settings.TCIA_SITE_NAME}}

urlpatterns = [
    path("admin/", admin.site.urls),
    path("favicon.ico", site.favicon, name="favicon"),
    path("accounts/login/", auth_views.LoginView.as_view(**NAMED), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(**NAMED), name="logout"),
    # Password reset never says whether an address has an account (Django's views always answer "done").
    path("accounts/password-reset/", auth_views.PasswordResetView.as_view(**NAMED), name="password_reset"),
    path("accounts/password-reset/sent/", auth_views.PasswordResetDoneView.as_view(**NAMED), name="password_reset_done"),
    path("accounts/password-reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(**NAMED),
         name="password_reset_confirm"),
    path("accounts/password-reset/done/", auth_views.PasswordResetCompleteView.as_view(**NAMED), name="password_reset_complete"),
    path("curation/supporting/", include("supporting.urls")),
    path("curation/fixity/", include("fixity.urls")),
    path("curation/feedback/", include("feedback.staff_urls")),
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
    path("", include("feedback.urls")),
    path("", include("publication.urls")),
    path("", include("doi.download_urls")),
    path("", include("supporting.download_urls")),
    path("", include("collections_app.data_urls")),
    path("", include("collections_app.urls")),
]
