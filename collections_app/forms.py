from django import forms


class WikiEditForm(forms.Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 24, "class": "mono"}), label="Text (Markdown)", required=False)
    comment = forms.CharField(max_length=300, required=False, label="Edit summary", help_text="What changed and why.")


class NewPageForm(forms.Form):
    slug = forms.SlugField(max_length=80, help_text="Lower-case words joined by hyphens, e.g. 'data-access'.")
    title = forms.CharField(max_length=200)
