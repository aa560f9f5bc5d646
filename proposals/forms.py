"""Forms parse input; the services decide and write."""
from django import forms
from django.contrib.auth import get_user_model, password_validation

from collections_app.models import AnatomicSite, Modality

from .models import SCORE_LABELS, Outcome, Proposal, ProposalStatus

SCORE_CHOICES = [
    (1, "1 – poor"), (2, "2 – fair"), (3, "3 – good"), (4, "4 – very good"), (5, "5 – excellent"),
]


class ProposalForm(forms.ModelForm):
    """Everything optional except the title: drafts may be half written. Submission asks
    Proposal.submission_errors() for the rest."""

    anatomic_sites = forms.ModelMultipleChoiceField(
        AnatomicSite.objects.all(), required=False, widget=forms.CheckboxSelectMultiple, label="Anatomic sites"
    )
    modalities = forms.ModelMultipleChoiceField(
        Modality.objects.all(), required=False, widget=forms.CheckboxSelectMultiple, label="Modalities"
    )
    modalities.label_from_instance = lambda m: f"{m.code} ({m.name})" if m.name and m.name != m.code else m.code

    class Meta:
        model = Proposal
        fields = [
            "title", "cancer_type", "anatomic_sites", "modalities", "number_of_subjects", "promised_series",
            "estimated_size_gb", "description", "clinical_data", "analysis_results", "data_quality",
            "scientific_value", "reuse_potential", "license_requested", "deidentification",
        ]
        labels = {
            "number_of_subjects": "Number of subjects",
            "promised_series": "Expected number of image series (optional)",
            "estimated_size_gb": "Estimated size (GB)",
            "clinical_data": "Clinical data offered",
            "analysis_results": "Analysis results offered",
            "data_quality": "Data-quality statement",
            "scientific_value": "Scientific value",
            "reuse_potential": "Potential for reuse",
            "license_requested": "License requested",
            "deidentification": "De-identification state",
        }
        widgets = {
            name: forms.Textarea(attrs={"rows": 4})
            for name in ("description", "clinical_data", "analysis_results", "data_quality", "scientific_value", "reuse_potential")
        }

    # Choice fields with a model default: a draft saved without them keeps the default.
    DEFAULTED = ("license_requested", "deidentification")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.DEFAULTED:
            self.fields[name].required = False

    def _defaulted(self, name):
        return self.cleaned_data.get(name) or Proposal._meta.get_field(name).get_default()

    def clean_license_requested(self):
        return self._defaulted("license_requested")

    def clean_deidentification(self):
        return self._defaulted("deidentification")


class AttachmentForm(forms.Form):
    file = forms.FileField(label="Attach a file", help_text="A protocol, data dictionary or sample report. No patient data.")


class QuestionForm(forms.Form):
    text = forms.CharField(label="Question to the submitter", widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)


class AnswerForm(forms.Form):
    text = forms.CharField(label="Your answer", widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)


class ScoreForm(forms.Form):
    data_quality = forms.TypedChoiceField(
        label=SCORE_LABELS["data_quality"], choices=SCORE_CHOICES, coerce=int, widget=forms.RadioSelect
    )
    scientific_value = forms.TypedChoiceField(
        label=SCORE_LABELS["scientific_value"], choices=SCORE_CHOICES, coerce=int, widget=forms.RadioSelect
    )
    reuse_potential = forms.TypedChoiceField(
        label=SCORE_LABELS["reuse_potential"], choices=SCORE_CHOICES, coerce=int, widget=forms.RadioSelect
    )
    comment = forms.CharField(
        label="Comment", required=False, widget=forms.Textarea(attrs={"rows": 4}), max_length=10000,
        help_text="Your reasons, for the other members and the chair. The submitter does not see scores or comments.",
    )


class DecisionForm(forms.Form):
    outcome = forms.ChoiceField(label="Decision", choices=Outcome.choices, widget=forms.RadioSelect)
    reason = forms.CharField(
        label="Reason", widget=forms.Textarea(attrs={"rows": 5}), max_length=10000,
        help_text="The submitter reads this in the portal and by e-mail.",
    )


class BoardFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, label="Status",
        choices=[("", "Any")] + [c for c in ProposalStatus.choices if c[0] != ProposalStatus.DRAFT],
    )
    cancer_type = forms.ChoiceField(required=False, label="Cancer type")
    modality = forms.ModelChoiceField(Modality.objects.all(), required=False, to_field_name="code", empty_label="Any")

    def __init__(self, *args, cancer_types=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cancer_type"].choices = [("", "Any")] + [(c, c) for c in cancer_types]


class RegistrationForm(forms.Form):
    """Checks only what the visitor typed; whether the address has an account already is never
    a form error (services.register_submitter answers the same either way)."""

    email = forms.EmailField(label="E-mail", help_text="Your username. Committee questions and decisions are sent here.")
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label="Password again", widget=forms.PasswordInput, strip=False)

    def clean(self):
        data = super().clean()
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The passwords differ.")
        elif p1:
            User = get_user_model()
            try:
                password_validation.validate_password(
                    p1, User(username=data.get("email", ""), email=data.get("email", ""))
                )
            except forms.ValidationError as e:
                self.add_error("password1", e)
        return data
