from django import forms

from .models import Kind


class AttachForm(forms.Form):
    file = forms.FileField(help_text="CSV, TSV, XLSX, LIDC XML, PDF, TXT, SVS/TIFF, or any other file (kept opaque).")
    kind = forms.ChoiceField(choices=[("", "Detect from the file name")] + Kind.choices, required=False)
    description = forms.CharField(max_length=300, required=False)
    subject_column = forms.CharField(max_length=200, required=False,
                                     help_text="Tables: the column naming the subjects (detected when empty).")
    replace = forms.BooleanField(required=False, help_text="Replace the file of the same name (a new revision).")
