from django import forms

from .models import Category

HONEYPOT = "homepage"  # a field people never see; form-filling bots fill it


class ReportForm(forms.Form):
    category = forms.ChoiceField(choices=Category.choices, label="What is wrong?")
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), max_length=5000, label="Describe the problem",
                              help_text="Which images, what you expected, what you saw. Please do not paste personal data.")
    series_uid = forms.CharField(required=False, max_length=64, label="Series Instance UID (optional)")
    name = forms.CharField(required=False, max_length=200, label="Your name (optional)")
    email = forms.EmailField(required=False, label="Your e-mail (optional)",
                             help_text="Only the curators see it, to answer you. It is never shown on the site.")
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)
    page = forms.ChoiceField(required=False, choices=[("", ""), ("collection", "collection"), ("landing", "landing")],
                             widget=forms.HiddenInput)
