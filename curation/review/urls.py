from django.urls import path

from . import views

app_name = "review"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("c/<slug:slug>/", views.collection, name="collection"),
    path("c/<slug:slug>/next/", views.claim_next, name="claim_next"),
    path("series/<int:pk>/", views.series_grid, name="series"),
    path("series/<int:pk>/view/", views.viewer, name="viewer"),
    path("series/<int:pk>/state.json", views.state, name="state"),
    path("series/<int:pk>/accept/", views.accept_series, name="accept"),
    path("class/<int:pk>/", views.image_class, name="image_class"),
    path("class/<int:pk>/take/", views.take, name="take"),
    path("class/<int:pk>/verdict/", views.class_verdict, name="class_verdict"),
    path("class/<int:pk>/montage.jpg", views.montage, name="montage"),
    path("class/<int:pk>/release/", views.release, name="release"),
    path("class/<int:pk>/assign/", views.assign, name="assign"),
    path("series/<int:pk>/lease/", views.lease, name="lease"),
    path("image/<int:pk>/verdict/", views.verdict, name="verdict"),
    path("image/<int:pk>/mask/preview/", views.mask_preview, name="mask_preview"),
    path("image/<int:pk>/mask/apply/", views.mask_apply, name="mask_apply"),
    path("series/<int:pk>/sheet/<int:page>/<str:key>.jpg", views.sheet, name="sheet"),
    path("thumb/<str:sha>.jpg", views.thumb, name="thumb"),
    path("preview/<str:sha>/<str:window>/<int:frame>.jpg", views.preview, name="preview"),
    path("full/<str:sha>/<int:frame>.bin", views.full, name="full"),
]
