from django.urls import path  # noqa: F401

# Series browsing, cart and download routes (publication issue). Mounted at the site root.
urlpatterns: list = []
