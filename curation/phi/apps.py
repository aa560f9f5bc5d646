from django.apps import AppConfig


class PhiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "curation.phi"
    label = "phi"
