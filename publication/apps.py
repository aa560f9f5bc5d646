from django.apps import AppConfig


class PublicationConfig(AppConfig):
    """The publishing layer, above the archive (collections_app) and the DOIs (doi): the
    collection page that shows both, publication metadata with its gate and preview, and the
    publish and withdraw pages and command. Neither layer below imports it."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "publication"
    verbose_name = "Publication"
