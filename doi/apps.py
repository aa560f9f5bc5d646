from django.apps import AppConfig


class DoiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "doi"
    verbose_name = "DOIs and landing pages"
