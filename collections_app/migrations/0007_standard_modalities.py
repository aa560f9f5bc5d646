"""Every common DICOM modality exists, so a proposal can name one before any collection has it
(the list was only the modalities the seed collections use: no NM, US or MG)."""
from django.db import migrations

MODALITIES = {
    "CT": "Computed Tomography", "MR": "Magnetic Resonance", "PT": "Positron Emission Tomography",
    "NM": "Nuclear Medicine", "US": "Ultrasound", "MG": "Mammography", "DX": "Digital Radiography",
    "CR": "Computed Radiography", "XA": "X-Ray Angiography", "RF": "Radio Fluoroscopy",
    "SM": "Slide Microscopy", "OT": "Other", "SC": "Secondary Capture", "SEG": "Segmentation",
    "RTSTRUCT": "Radiotherapy Structure Set", "RTDOSE": "Radiotherapy Dose", "RTPLAN": "Radiotherapy Plan",
    "RTIMAGE": "Radiotherapy Image", "SR": "Structured Report", "PR": "Presentation State",
    "REG": "Registration", "KO": "Key Object Selection",
}


def add(apps, schema_editor):
    Modality = apps.get_model("collections_app", "Modality")
    for code, name in MODALITIES.items():
        Modality.objects.get_or_create(code=code, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("collections_app", "0006_released_facts")]
    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
