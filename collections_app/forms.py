from django import forms

from .models import Access, AnatomicSite, License, Modality


class CatalogueFilterForm(forms.Form):
    SORTS = [
        ("name", "Name (A–Z)"),
        ("-name", "Name (Z–A)"),
        ("-size", "Size (largest first)"),
        ("size", "Size (smallest first)"),
        ("-subjects", "Subjects (most first)"),
        ("subjects", "Subjects (fewest first)"),
    ]
    q = forms.CharField(required=False, label="Search", widget=forms.SearchInput(attrs={"placeholder": "Name or description"}))
    cancer_type = forms.ChoiceField(required=False, label="Cancer type")
    modality = forms.ModelChoiceField(Modality.objects.all(), required=False, to_field_name="code", empty_label="Any")
    site = forms.ModelChoiceField(AnatomicSite.objects.all(), required=False, to_field_name="name", label="Anatomic site", empty_label="Any")
    license = forms.ChoiceField(required=False, choices=[("", "Any")] + list(License.choices))
    access = forms.ChoiceField(required=False, choices=[("", "Any")] + list(Access.choices))
    sort = forms.ChoiceField(required=False, choices=SORTS)

    def __init__(self, *args, cancer_types=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cancer_type"].choices = [("", "Any")] + [(c, c) for c in cancer_types]


class WikiEditForm(forms.Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 24, "class": "mono"}), label="Text (Markdown)", required=False)
    comment = forms.CharField(max_length=300, required=False, label="Edit summary", help_text="What changed and why.")


class NewPageForm(forms.Form):
    slug = forms.SlugField(max_length=80, help_text="Lower-case words joined by hyphens, e.g. 'data-access'.")
    title = forms.CharField(max_length=200)
