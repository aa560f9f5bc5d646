from django.apps import AppConfig


class FixityConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "fixity"
    verbose_name = "Fixity audit"
