"""Multi-valued texts in the index as DICOM writes them ("V1\\V2"). The indexer stored str() of
pydicom's MultiValue ("['V1', 'V2']") for attributes with several values (SoftwareVersions,
AdmittingDiagnosesDescription, ...); rows written that way are rewritten here."""
import ast

from django.db import migrations

FIELDS = {
    "Subject": ("patient_sex", "ethnic_group"),
    "Study": ("study_description", "study_id", "patient_age", "admitting_diagnoses_description"),
    "Series": ("modality", "body_part_examined", "manufacturer", "manufacturer_model_name", "software_versions",
               "protocol_name", "series_number", "series_description", "frame_of_reference_uid"),
    "Image": ("sop_class_uid", "photometric_interpretation"),
}


def joined(text: str):
    """The backslash-joined values of a Python list's repr of strings, or None for anything else."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "\\".join(value)
    return None


def rewrite(apps, schema_editor):
    for model_name, fields in FIELDS.items():
        model = apps.get_model("collections_app", model_name)
        for field in fields:
            limit = model._meta.get_field(field).max_length
            rows = model.objects.filter(**{f"{field}__startswith": "['", f"{field}__endswith": "']"})
            for pk, text in rows.values_list("pk", field).iterator():
                new = joined(text)
                if new is not None:
                    model.objects.filter(pk=pk).update(**{field: new[:limit]})


class Migration(migrations.Migration):
    dependencies = [("collections_app", "0007_standard_modalities")]
    operations = [migrations.RunPython(rewrite, migrations.RunPython.noop)]
