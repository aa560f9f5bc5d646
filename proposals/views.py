"""Pages for submitters, the committee and its chair.

Every page that shows a proposal fetches it through the one read rule
(get_visible_or_404 → ProposalQuerySet.visible_to): what you may not read is a 404, for the
public as for everyone else. An action on a proposal you can read but may not act on is a 403.
"""
from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from tcia.core import roles
from tcia.core.permissions import get_visible_or_404

from . import permissions, selectors, services
from .forms import (
    AnswerForm, AttachmentForm, BoardFilterForm, DecisionForm, ProposalForm, QuestionForm, RegistrationForm, ScoreForm,
)
from .models import SCORE_FIELDS, SCORE_LABELS, Answer, Notification, Proposal, ProposalStatus


def _proposal(request, pk):
    return get_visible_or_404(Proposal.objects.select_related("submitter", "collection"), request.user, pk=pk)


def _require_any_role(user):
    """Proposals pages exist only for people with a role here; to anyone else they are a 404."""
    if not (roles.is_submitter(user) or roles.is_committee(user) or roles.is_curator(user)):
        raise Http404("Not found")


def _apply_errors(form, error: ValidationError):
    if hasattr(error, "error_dict"):
        for field, errs in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errs)
    else:
        form.add_error(None, error)


# Registration ---------------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
def register(request):
    if request.user.is_authenticated:
        messages.info(request, "You are logged in already.")
        return redirect("proposals:dashboard")
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.register_submitter(
            email=form.cleaned_data["email"], password=form.cleaned_data["password1"],
            site_url=request.build_absolute_uri("/").rstrip("/"),
        )
        # The same answer whether or not the address had an account.
        return render(request, "proposals/register_sent.html", {"email": form.cleaned_data["email"]})
    return render(request, "proposals/register.html", {"form": form})


def register_confirm(request, uidb64, token):
    user = services.activate_submitter(uidb64=uidb64, token=token)
    if user is None:
        return render(request, "proposals/register_sent.html", {"invalid": True}, status=400)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, "Welcome. Your submitter account is ready: start a proposal below.")
    return redirect("proposals:dashboard")


# Dashboard ------------------------------------------------------------------------------------

def dashboard(request):
    user = request.user
    _require_any_role(user)
    context = {
        "is_submitter": roles.is_submitter(user),
        "is_committee": roles.is_committee(user),
        "is_curator": roles.is_curator(user),
    }
    if context["is_submitter"]:
        context["mine"] = selectors.my_proposals(user)
        context["questions"] = selectors.questions_to_answer(user)
    if context["is_committee"]:
        context["to_review"] = selectors.still_to_review(user)
    if context["is_curator"]:
        context["accepted"] = selectors.accepted_for_curators(user)
    return render(request, "proposals/proposal_list.html", context)


# Submitter: form, attachments, answers --------------------------------------------------------

@require_http_methods(["GET", "POST"])
def proposal_create(request):
    if not roles.is_submitter(request.user):
        raise Http404("Not found")
    return _proposal_form(request, None)


@require_http_methods(["GET", "POST"])
def proposal_edit(request, pk):
    proposal = _proposal(request, pk)
    if not permissions.can_edit(request.user, proposal):
        raise PermissionDenied("This proposal can no longer be changed.")
    return _proposal_form(request, proposal)


def _proposal_form(request, proposal):
    form = ProposalForm(request.POST or None, instance=proposal)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        fields = {k: v for k, v in data.items() if k not in ("anatomic_sites", "modalities")}
        try:
            proposal = services.save_draft(
                submitter=request.user, proposal=proposal, fields=fields,
                anatomic_sites=data["anatomic_sites"], modalities=data["modalities"],
            )
        except ValidationError as e:
            _apply_errors(form, e)
        else:
            if "submit" not in request.POST:
                messages.success(request, "Draft saved. Only you can see it until you submit it.")
                return redirect(proposal)
            try:
                services.submit(proposal=proposal, actor=request.user)
            except ValidationError as e:
                form = ProposalForm(request.POST, instance=proposal)
                form.is_valid()
                _apply_errors(form, e)
                messages.error(request, "Draft saved, but it cannot be submitted yet: complete the fields marked below.")
            else:
                messages.success(request, "Proposal submitted. The committee has been notified.")
                return redirect(proposal)
    return render(request, "proposals/proposal_form.html", {"form": form, "proposal": proposal})


@require_POST
def attachment_add(request, pk):
    proposal = _proposal(request, pk)
    form = AttachmentForm(request.POST, request.FILES)
    if not permissions.can_upload(request.user, proposal):
        raise PermissionDenied("Attachments can be added only while the proposal can be changed.")
    if form.is_valid():
        try:
            services.add_attachment(proposal=proposal, user=request.user, uploaded=form.cleaned_data["file"])
        except ValidationError as e:
            messages.error(request, " ".join(e.messages))
        else:
            messages.success(request, f"Attached {form.cleaned_data['file'].name}.")
    else:
        messages.error(request, "Choose a file to attach.")
    return redirect(proposal)


def attachment_download(request, pk, attachment_pk):
    proposal = _proposal(request, pk)
    attachment = get_object_or_404(proposal.attachments, pk=attachment_pk)
    return FileResponse(attachment.file.open("rb"), as_attachment=True, filename=attachment.name)


@require_POST
def question_ask(request, pk):
    proposal = _proposal(request, pk)
    if not permissions.can_ask(request.user, proposal):
        raise PermissionDenied("Only committee members ask questions on proposals under review.")
    form = QuestionForm(request.POST)
    if form.is_valid():
        services.ask_question(proposal=proposal, asker=request.user, text=form.cleaned_data["text"])
        messages.success(request, "Question sent to the submitter.")
    else:
        messages.error(request, "Write the question before sending it.")
    return redirect(proposal)


@require_POST
def question_answer(request, pk, question_pk):
    proposal = _proposal(request, pk)
    question = get_object_or_404(proposal.questions, pk=question_pk)
    if not permissions.can_answer(request.user, proposal):
        raise PermissionDenied("Only the submitter answers the committee's questions.")
    form = AnswerForm(request.POST)
    if form.is_valid():
        services.answer_question(question=question, author=request.user, text=form.cleaned_data["text"])
        messages.success(request, "Answer sent to the committee.")
    else:
        messages.error(request, "Write the answer before sending it.")
    return redirect(f"{proposal.get_absolute_url()}#question-{question.pk}")


# Detail ---------------------------------------------------------------------------------------

def proposal_detail(request, pk):
    proposal = _proposal(request, pk)
    user = request.user
    questions = proposal.questions.select_related("asked_by").prefetch_related(
        Prefetch("answers", queryset=Answer.objects.select_related("author"))
    )
    context = {
        "proposal": proposal,
        "questions": questions,
        "attachments": proposal.attachments.all(),
        "decisions": proposal.decisions.select_related("chair"),
        "can_edit": permissions.can_edit(user, proposal),
        "can_upload": permissions.can_upload(user, proposal),
        "can_ask": permissions.can_ask(user, proposal),
        "can_answer": permissions.can_answer(user, proposal),
        "can_score": permissions.can_score(user, proposal),
        "can_decide": permissions.can_decide(user, proposal),
        "is_committee": roles.is_committee(user),
        "question_form": QuestionForm(),
        "answer_form": AnswerForm(),
        "attachment_form": AttachmentForm(),
    }
    if context["is_committee"]:
        context["review"] = selectors.review_summary(proposal, user)
    return render(request, "proposals/proposal_detail.html", context)


# Committee ------------------------------------------------------------------------------------

def board(request):
    user = request.user
    if not roles.is_committee(user):
        raise Http404("Not found")
    visible = Proposal.objects.visible_to(user).exclude(status=ProposalStatus.DRAFT)
    cancer_types = sorted(set(visible.exclude(cancer_type="").values_list("cancer_type", flat=True)))
    form = BoardFilterForm(request.GET or None, cancer_types=cancer_types)
    filters = {}
    if form.is_bound and form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v}
    data = selectors.board(user, **filters)
    return render(
        request, "proposals/proposal_board.html",
        {"form": form, **data, "is_chair": permissions.is_chair(user), "filtered": bool(filters)},
    )


@require_http_methods(["GET", "POST"])
def score(request, pk):
    proposal = _proposal(request, pk)
    if not permissions.can_score(request.user, proposal):
        raise PermissionDenied("Only committee members score proposals waiting for a decision.")
    mine = selectors.current_score(proposal, request.user)
    initial = {f: getattr(mine, f) for f in (*SCORE_FIELDS, "comment")} if mine else None
    form = ScoreForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.score(proposal=proposal, member=request.user, **form.cleaned_data)
        except ValidationError as e:
            _apply_errors(form, e)
        else:
            messages.success(
                request, "Score updated; your earlier score is kept in the history." if mine else "Score recorded."
            )
            return redirect("proposals:score", pk=proposal.pk)
    return render(
        request, "proposals/score_form.html",
        {
            "proposal": proposal, "form": form, "review": selectors.review_summary(proposal, request.user),
            "history": selectors.score_history(proposal, request.user), "labels": SCORE_LABELS,
        },
    )


@require_http_methods(["GET", "POST"])
def decide(request, pk):
    proposal = _proposal(request, pk)
    if not permissions.can_decide(request.user, proposal):
        raise PermissionDenied("Only the committee chair decides, and an accepted proposal is not decided again.")
    form = DecisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            decision = services.decide(proposal=proposal, chair=request.user, **form.cleaned_data)
        except ValidationError as e:
            _apply_errors(form, e)
        else:
            text = f"Decision recorded: {decision.get_outcome_display().lower()}. The submitter has been notified."
            proposal.refresh_from_db()
            if proposal.collection_id:
                text += f" Draft collection “{proposal.collection.title}” created for the curators."
            messages.success(request, text)
            return redirect(proposal)
    return render(
        request, "proposals/decision_form.html",
        {"proposal": proposal, "form": form, "review": selectors.review_summary(proposal, request.user),
         "decisions": proposal.decisions.select_related("chair")},
    )


# Notifications --------------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
def notifications(request):
    if not request.user.is_authenticated:
        raise Http404("Not found")
    if request.method == "POST":
        ids = None if "all" in request.POST else request.POST.getlist("notification")
        count = services.mark_read(user=request.user, notification_ids=ids)
        messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} as read.")
        return redirect("proposals:notifications")
    items = Notification.objects.filter(user=request.user).select_related("proposal")[:200]
    return render(
        request, "proposals/notification_list.html",
        {"notifications": items, "unread": selectors.unread_count(request.user)},
    )


