"""The publish page's form: the publication metadata (publication.metadata shape) as a form and
four formsets. Parsing only; the publication gate judges the result."""
from django import forms

from collections_app.models import License
from doi.models import ContributorType, NameType, RelatedPublication

from . import metadata


class MetadataForm(forms.Form):
    summary = forms.CharField(
        label="Abstract", required=False, widget=forms.Textarea(attrs={"rows": 4}),
        help_text=f"{metadata.SUMMARY_MIN}–{metadata.SUMMARY_MAX} characters: what the data are. The landing page shows it first; DataCite gets it as the Abstract.")
    description = forms.CharField(label="Description", required=False, widget=forms.Textarea(attrs={"rows": 6}),
                                  help_text="Acquisition, contents, known issues (optional).")
    license = forms.ChoiceField(choices=License.choices)
    keywords = forms.CharField(label="Keywords", required=False, widget=forms.Textarea(attrs={"rows": 2}),
                               help_text="One per line, or separated by commas.")
    notes = forms.CharField(label="Version notes", required=False, widget=forms.Textarea(attrs={"rows": 3}),
                            help_text="What changed since the previous version (required from version 2 on).")
    kind = forms.ChoiceField(label="Kind of release", widget=forms.RadioSelect, initial="major",
                             choices=[("major", "Major: a new version DOI"), ("minor", "Minor: update the collection DOI only")])


class PersonForm(forms.Form):
    name_type = forms.ChoiceField(label="Type", choices=NameType.choices, initial=NameType.PERSONAL)
    family = forms.CharField(label="Family name or organization", required=False, max_length=100)
    given = forms.CharField(label="Given name", required=False, max_length=100)
    orcid = forms.CharField(label="ORCID iD", required=False, max_length=40,
                            widget=forms.TextInput(attrs={"placeholder": "0000-0002-1825-0097"}))
    affiliation = forms.CharField(label="Affiliation", required=False, max_length=200)


class ContributorForm(PersonForm):
    contributor_type = forms.ChoiceField(label="Role", choices=ContributorType.choices, initial=ContributorType.DATA_CURATOR)


class FundingForm(forms.Form):
    funder_name = forms.CharField(label="Funder", required=False, max_length=200)
    funder_identifier = forms.CharField(label="Funder identifier (ROR or Crossref Funder ID URL)", required=False, max_length=200)
    award_number = forms.CharField(label="Award number", required=False, max_length=100)
    award_title = forms.CharField(label="Award title", required=False, max_length=300)


class RelatedForm(forms.Form):
    relation = forms.ChoiceField(label="Relation", choices=RelatedPublication.Relation.choices,
                                 initial=RelatedPublication.Relation.IS_DESCRIBED_BY)
    citation = forms.CharField(label="Reference", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    doi = forms.CharField(label="DOI", required=False, max_length=200)
    pmid = forms.CharField(label="PMID", required=False, max_length=12)
    url = forms.URLField(label="URL", required=False, assume_scheme="https")


SETS = {
    "creators": (PersonForm, 2),
    "contributors": (ContributorForm, 1),
    "funding": (FundingForm, 1),
    "related": (RelatedForm, 1),
}


def build(data: dict | None = None, *, initial: dict | None = None, major: bool = True):
    """(form, {name: formset}) bound to POST `data`, or unbound with `initial` (metadata shape)."""
    initial = initial or metadata.empty()
    form = MetadataForm(data, initial={**initial, "keywords": "\n".join(initial.get("keywords", [])),
                                       "kind": "major" if major else "minor"})
    sets = {}
    for name, (form_class, extra) in SETS.items():
        factory = forms.formset_factory(form_class, extra=extra)
        sets[name] = factory(data, prefix=name, initial=None if data is not None else initial.get(name, []))
    return form, sets


def parse(form, sets) -> tuple[dict | None, bool]:
    """The metadata dict and major flag from bound, valid forms (None when a field is malformed)."""
    if not form.is_valid() or not all(fs.is_valid() for fs in sets.values()):
        return None, True
    data = {k: form.cleaned_data[k] for k in ("summary", "description", "license", "keywords", "notes")}
    for name, fs in sets.items():
        data[name] = [f.cleaned_data for f in fs.forms if f.cleaned_data]
    return metadata.normalize(data), form.cleaned_data["kind"] != "minor"
