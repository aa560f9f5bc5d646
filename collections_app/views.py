"""The collections' wiki pages: editing, history, diffs and revert. (The catalogue and the
collection page itself are the publication layer's: publication/views.py.)"""
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from tcia.core import roles
from tcia.core.permissions import get_visible_or_404, require_curator

from .forms import NewPageForm, WikiEditForm
from .models import Collection, WikiPage, WikiRevision
from .services import wiki

def _collection(request, slug):
    return get_visible_or_404(Collection.objects.all(), request.user, slug=slug)


def _page(collection, page_slug):
    return get_object_or_404(WikiPage.objects.select_related("current"), collection=collection, slug=page_slug)


@login_required
@require_http_methods(["GET", "POST"])
def page_edit(request, slug, page_slug="overview"):
    require_curator(request.user)
    collection = _collection(request, slug)
    page = wiki.ensure_page(collection, page_slug, "Overview" if page_slug == "overview" else None)
    current = page.current
    initial = {"title": page.title, "body": current.body if current else "", "comment": ""}
    form = WikiEditForm(request.POST or None, initial=initial)
    preview = None
    if request.method == "POST" and form.is_valid():
        if "preview" in request.POST:
            preview = wiki.render_markdown(form.cleaned_data["body"])
        else:
            wiki.save_revision(
                page=page,
                body=form.cleaned_data["body"],
                title=form.cleaned_data["title"],
                author=request.user,
                comment=form.cleaned_data["comment"],
            )
            return redirect(_page_url(collection, page))
    return render(
        request,
        "collections_app/wikipage_edit.html",
        {"collection": collection, "page": page, "form": form, "preview": preview},
    )


@login_required
@require_http_methods(["GET", "POST"])
def page_new(request, slug):
    require_curator(request.user)
    collection = _collection(request, slug)
    form = NewPageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if collection.pages.filter(slug=form.cleaned_data["slug"]).exists():
            form.add_error("slug", "A page with this name exists already.")
        else:
            page = wiki.ensure_page(
                collection, form.cleaned_data["slug"], form.cleaned_data["title"], position=collection.pages.count()
            )
            return redirect("page_edit", slug=collection.slug, page_slug=page.slug)
    return render(request, "collections_app/wikipage_new.html", {"collection": collection, "form": form})


def page_history(request, slug, page_slug="overview"):
    collection = _collection(request, slug)
    page = _page(collection, page_slug)
    revisions = page.revisions.select_related("author", "reverted_from").all()
    return render(
        request,
        "collections_app/wikipage_history.html",
        {"collection": collection, "page": page, "revisions": revisions, "can_edit": roles.is_curator(request.user)},
    )


def page_revision(request, slug, page_slug, number):
    collection = _collection(request, slug)
    page = _page(collection, page_slug)
    revision = get_object_or_404(page.revisions, number=number)
    return render(
        request,
        "collections_app/wikipage_revision.html",
        {"collection": collection, "page": page, "revision": revision, "can_edit": roles.is_curator(request.user)},
    )


def page_diff(request, slug, page_slug="overview"):
    collection = _collection(request, slug)
    page = _page(collection, page_slug)
    try:
        a, b = int(request.GET.get("a", "")), int(request.GET.get("b", ""))
    except ValueError:
        latest = page.current.number if page.current else 1
        a, b = max(latest - 1, 1), latest
    old = get_object_or_404(WikiRevision, page=page, number=min(a, b))
    new = get_object_or_404(WikiRevision, page=page, number=max(a, b))
    return render(
        request,
        "collections_app/wikipage_diff.html",
        {"collection": collection, "page": page, "old": old, "new": new, "lines": wiki.diff_lines(old, new)},
    )


@login_required
@require_POST
def page_revert(request, slug, page_slug, number):
    require_curator(request.user)
    collection = _collection(request, slug)
    page = _page(collection, page_slug)
    target = get_object_or_404(WikiRevision, page=page, number=number)
    wiki.revert(page=page, to=target, author=request.user, comment=request.POST.get("comment", ""))
    return redirect("page_history", slug=collection.slug, page_slug=page.slug)


def _page_url(collection, page):
    if page.slug == "overview":
        return collection.get_absolute_url()
    return f"{collection.get_absolute_url()}pages/{page.slug}/"
