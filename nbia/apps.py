from django.apps import AppConfig


class NbiaConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "nbia"
    verbose_name = "NBIA-compatible API"
