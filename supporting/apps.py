from django.apps import AppConfig


class SupportingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "supporting"
    verbose_name = "Supporting data"

    def ready(self):
        from collections_app.services.downloads import register_package_part
        from collections_app.services.publish import register_gate, register_manifest_part

        from . import publishing

        register_manifest_part(publishing.manifest_lines, publishing.freeze)
        register_package_part(publishing.package_files)
        register_gate(publishing.publication_gate)
        from curation.phi.report import register_section

        from .services import phi_section

        register_section(phi_section)
