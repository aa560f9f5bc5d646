from django.urls import path

from . import views

app_name = "feedback"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/reply/", views.reply, name="reply"),
    path("<int:pk>/link/", views.link, name="link"),
    path("<int:pk>/state/", views.state, name="state"),
    path("<int:pk>/erratum/", views.erratum, name="erratum"),
    path("errata/<int:pk>/withdraw/", views.erratum_withdraw, name="erratum_withdraw"),
]
