from django import forms

from curation.deid.profile import OPTIONS, TCIA_DEFAULT_OPTIONS


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(d, initial) for d in data]
        return [single(data, initial)]


class UploadForm(forms.Form):
    files = MultipleFileField(label="DICOM files or zip archives", help_text="Select many files, or zips of folders.")


class SubmissionForm(forms.Form):
    options = forms.MultipleChoiceField(
        choices=[(name, f"{meaning} ({code})") for name, (code, meaning, _) in OPTIONS.items()],
        initial=list(TCIA_DEFAULT_OPTIONS),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="De-identification options (PS3.15 Basic profile plus…)",
    )
    promised_subjects = forms.IntegerField(min_value=0, required=False)
    promised_series = forms.IntegerField(min_value=0, required=False)


class SubjectMapImportForm(forms.Form):
    csv_file = forms.FileField(label="CSV: original_patient_id, subject_id[, date_offset_days]")


class SubjectRenameForm(forms.Form):
    subject_id = forms.RegexField(regex=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", max_length=64)
    reason = forms.CharField(max_length=300, required=False)
