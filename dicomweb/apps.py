from django.apps import AppConfig


class DicomwebConfig(AppConfig):
    name = "dicomweb"
    verbose_name = "DICOMweb and the OHIF viewer"

    def ready(self):
        from . import cache

        cache.connect()
