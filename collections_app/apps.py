from django.apps import AppConfig


class CollectionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "collections_app"
    label = "collections_app"
    verbose_name = "Collections and the imaging index"
