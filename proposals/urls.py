from django.urls import path

from . import views

app_name = "proposals"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("register/", views.register, name="register"),
    path("register/confirm/<str:uidb64>/<str:token>/", views.register_confirm, name="register_confirm"),
    path("new/", views.proposal_create, name="create"),
    path("board/", views.board, name="board"),
    path("notifications/", views.notifications, name="notifications"),
    path("<int:pk>/", views.proposal_detail, name="detail"),
    path("<int:pk>/edit/", views.proposal_edit, name="edit"),
    path("<int:pk>/attachments/", views.attachment_add, name="attachment_add"),
    path("<int:pk>/attachments/<int:attachment_pk>/", views.attachment_download, name="attachment"),
    path("<int:pk>/questions/", views.question_ask, name="ask"),
    path("<int:pk>/questions/<int:question_pk>/answer/", views.question_answer, name="answer"),
    path("<int:pk>/score/", views.score, name="score"),
    path("<int:pk>/decide/", views.decide, name="decide"),
]
