"""Writing proposals: drafts, submission, questions and answers, scores, decisions, notifications.

Each service checks the actor's right (the same rules as the pages, proposals.permissions),
writes in one transaction, records the audit event for every human decision, and leaves
portal notifications; e-mails go out once the transaction has committed, so a rolled-back
decision never sends mail.
"""
import re
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.text import slugify

from collections_app.models import Access, Collection, License
from collections_app.models import Status as CollectionStatus
from tcia.core import audit, roles

from . import permissions, selectors
from .models import (
    OUTCOME_STATUS, SCORE_FIELDS, Answer, Decision, Notification, NotificationKind, Outcome, Proposal,
    ProposalAttachment, ProposalStatus, Question, Score,
)

PROPOSAL_FIELDS = (
    "title", "cancer_type", "number_of_subjects", "promised_series", "estimated_size_gb", "description",
    "clinical_data", "analysis_results", "data_quality", "scientific_value", "reuse_potential",
    "license_requested", "deidentification",
)
GB = 1000**3


# Accounts -------------------------------------------------------------------------------------

class _ActivationTokens(PasswordResetTokenGenerator):
    """One-use links that finish a registration (a different salt from password resets, and
    is_active in the hash, so an activated account's link does nothing)."""

    key_salt = "proposals.services.activation"

    def _make_hash_value(self, user, timestamp):
        return f"{super()._make_hash_value(user, timestamp)}{user.is_active}"


activation_tokens = _ActivationTokens()


def _account_for_address(email: str):
    User = get_user_model()
    return User.objects.filter(Q(username__iexact=email) | Q(email__iexact=email)).first()


@transaction.atomic
def register_submitter(*, email: str, password: str, site_url: str):
    """Self-registration that never tells the visitor whether an account exists: the answer is
    always "check your e-mail". A new address gets an inactive submitter account (its username
    is the address) and a link that activates it; an address already in use gets a message
    saying so, sent to that address only. The password is hashed on both paths, so the time
    taken tells nothing either. Returns the new user, or None."""
    email = get_user_model().objects.normalize_email(email).strip()
    existing = _account_for_address(email)
    if existing is not None:
        make_password(password)  # the same work as creating an account
        subject = f"[{settings.TCIA_SITE_NAME}] You already have an account"
        body = (
            f"Someone (perhaps you) tried to register {email} at {settings.TCIA_SITE_NAME}. This address has an "
            f"account already: log in at {site_url}{reverse('login')}, or choose a new password at "
            f"{site_url}{reverse('password_reset')}.\n\nIf it was not you, ignore this message.\n"
        )
        audit.log("proposals.register_existing", actor=None, obj=existing)
        user = None
    else:
        User = get_user_model()
        user = User.objects.create_user(username=email.lower(), email=email, password=password, is_active=False)
        user.groups.add(Group.objects.get_or_create(name=roles.SUBMITTER)[0])
        audit.log("proposals.register", actor=user, obj=user, email=email)
        link = site_url + reverse("proposals:register_confirm", args=[
            urlsafe_base64_encode(force_bytes(user.pk)), activation_tokens.make_token(user)])
        subject = f"[{settings.TCIA_SITE_NAME}] Finish your registration"
        body = (
            f"Open this link to activate your submitter account at {settings.TCIA_SITE_NAME}:\n{link}\n\n"
            "If you did not register, ignore this message: the account stays inactive.\n"
        )
    transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email], fail_silently=False))
    return user


def activate_submitter(*, uidb64: str, token: str):
    """The account a registration link names, activated; None for a link that is wrong, used or expired."""
    User = get_user_model()
    try:
        user = User.objects.get(pk=int(urlsafe_base64_decode(uidb64).decode()))
    except (ValueError, TypeError, OverflowError, UnicodeDecodeError, User.DoesNotExist):
        return None
    if user.is_active or not activation_tokens.check_token(user, token):
        return None
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit.log("proposals.register_confirmed", actor=user, obj=user)
    return user


# Notifications --------------------------------------------------------------------------------

def notify(*, users, proposal: Proposal, kind: str, text: str, actor=None) -> list[Notification]:
    """A portal notification for each user (the actor excepted), and an e-mail to each one with an
    address, sent after commit."""
    recipients = {u.pk: u for u in users if u is not None and getattr(u, "is_active", True)}
    if actor is not None:
        recipients.pop(actor.pk, None)
    rows = [Notification(user=u, proposal=proposal, kind=kind, text=text[:500]) for u in recipients.values()]
    Notification.objects.bulk_create(rows)
    addresses = sorted({u.email for u in recipients.values() if u.email})
    if addresses:
        subject = f"[{settings.TCIA_SITE_NAME}] {NotificationKind(kind).label}: {proposal.title}"[:200]
        # No request here: TCIA_SITE_URL (if set) makes the link absolute.
        link = getattr(settings, "TCIA_SITE_URL", "").rstrip("/") + reverse("proposals:detail", args=[proposal.pk])
        body = f"{text}\n\n{link}\n"

        def send():
            # One message per recipient: committee members do not see each other's addresses.
            for address in addresses:
                send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address], fail_silently=False)

        transaction.on_commit(send)
    return rows


def mark_read(*, user, notification_ids=None) -> int:
    qs = Notification.objects.filter(user=user).unread()
    if notification_ids is not None:
        qs = qs.filter(pk__in=notification_ids)
    return qs.update(read_at=timezone.now())


# Submitter ------------------------------------------------------------------------------------

@transaction.atomic
def save_draft(*, submitter, fields: dict, proposal: Proposal | None = None, anatomic_sites=None, modalities=None):
    """Create or update a proposal the submitter may still change. No completeness check here:
    a draft may be half written."""
    if proposal is None:
        if not roles.is_submitter(submitter):
            raise PermissionDenied("Only submitters file proposals.")
        proposal = Proposal(submitter=submitter)
    elif not permissions.can_edit(submitter, proposal):
        raise PermissionDenied("This proposal can no longer be changed.")
    for name in PROPOSAL_FIELDS:
        if name in fields:
            setattr(proposal, name, fields[name])
    proposal.title = (proposal.title or "").strip()
    if not proposal.title:
        raise ValidationError({"title": "Give the proposal a title, even a working one."})
    proposal.full_clean(exclude=["submitter", "collection"])
    proposal.save()
    if anatomic_sites is not None:
        proposal.anatomic_sites.set(anatomic_sites)
    if modalities is not None:
        proposal.modalities.set(modalities)
    return proposal


@transaction.atomic
def add_attachment(*, proposal: Proposal, user, uploaded) -> ProposalAttachment:
    if not permissions.can_upload(user, proposal):
        raise PermissionDenied("Attachments can be added only while the proposal can be changed.")
    limit = getattr(settings, "TCIA_PROPOSAL_ATTACHMENT_MAX_BYTES", 50 * 1000**2)
    if (uploaded.size or 0) > limit:
        raise ValidationError(
            {"file": f"{uploaded.name} is {uploaded.size:,} bytes; attachments are limited to {limit:,} bytes. "
                     "Images are sent after acceptance, not with the proposal."}
        )
    name = (uploaded.name or "attachment").replace("/", "_").replace("\\", "_")[-200:]
    attachment = ProposalAttachment(proposal=proposal, name=name, size=uploaded.size or 0, uploaded_by=user)
    attachment.file.save(name, uploaded, save=False)
    attachment.save()
    audit.log("proposal.attach", actor=user, obj=proposal, name=name, size=attachment.size)
    return attachment


@transaction.atomic
def submit(*, proposal: Proposal, actor) -> Proposal:
    """Hand the proposal to the committee (first submission, or resubmission after a request for
    information). Raises ValidationError with what is missing."""
    proposal = Proposal.objects.select_for_update().get(pk=proposal.pk)
    if not permissions.can_edit(actor, proposal):
        raise PermissionDenied("Only the submitter can submit a draft or a proposal that needs information.")
    errors = proposal.submission_errors()
    if errors:
        raise ValidationError(errors)
    resubmission = proposal.status == ProposalStatus.NEEDS_INFORMATION
    proposal.status = ProposalStatus.SUBMITTED
    if proposal.submitted_at is None:
        proposal.submitted_at = timezone.now()
    proposal.save(update_fields=["status", "submitted_at", "updated_at"])
    audit.log("proposal.submit", actor=actor, obj=proposal, resubmission=resubmission)
    verb = "resubmitted" if resubmission else "submitted"
    notify(
        users=selectors.committee_members(), proposal=proposal, kind=NotificationKind.SUBMITTED, actor=actor,
        text=f"{actor.get_username()} {verb} the proposal “{proposal.title}”. It is waiting for your review.",
    )
    return proposal


# Questions and answers ------------------------------------------------------------------------

@transaction.atomic
def ask_question(*, proposal: Proposal, asker, text: str) -> Question:
    if not permissions.can_ask(asker, proposal):
        raise PermissionDenied("Only committee members ask questions on proposals under review.")
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": "Write the question."})
    question = Question.objects.create(proposal=proposal, asked_by=asker, text=text)
    audit.log("proposal.question", actor=asker, obj=proposal, question=question.pk)
    notify(
        users=[proposal.submitter], proposal=proposal, kind=NotificationKind.QUESTION, actor=asker,
        text=f"The committee asks about “{proposal.title}”: {text}",
    )
    return question


@transaction.atomic
def answer_question(*, question: Question, author, text: str) -> Answer:
    proposal = question.proposal
    if not permissions.can_answer(author, proposal):
        raise PermissionDenied("Only the submitter answers the committee's questions.")
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": "Write the answer."})
    answer = Answer.objects.create(question=question, author=author, text=text)
    audit.log("proposal.answer", actor=author, obj=proposal, question=question.pk, answer=answer.pk)
    notify(
        users=[question.asked_by, *selectors.chairs()], proposal=proposal, kind=NotificationKind.ANSWER, actor=author,
        text=f"{author.get_username()} answered a question on “{proposal.title}”: {text}",
    )
    return answer


# Committee ------------------------------------------------------------------------------------

@transaction.atomic
def score(*, proposal: Proposal, member, data_quality: int, scientific_value: int, reuse_potential: int,
          comment: str = "") -> Score:
    """Record a member's scores. A member who scores again supersedes their earlier score: the old
    row stays, marked not current and pointing to the new one."""
    proposal = Proposal.objects.select_for_update().get(pk=proposal.pk)
    if not permissions.can_score(member, proposal):
        raise PermissionDenied("Only committee members score proposals waiting for a decision.")
    values = {"data_quality": data_quality, "scientific_value": scientific_value, "reuse_potential": reuse_potential}
    errors = {k: "Choose a score from 1 to 5." for k, v in values.items() if not isinstance(v, int) or not 1 <= v <= 5}
    if errors:
        raise ValidationError(errors)
    previous = Score.objects.select_for_update().filter(proposal=proposal, member=member, is_current=True).first()
    if previous is not None:
        # The partial unique index allows one current score per member: retire the old one first.
        Score.objects.filter(pk=previous.pk).update(is_current=False)
    new = Score.objects.create(proposal=proposal, member=member, comment=(comment or "").strip(), **values)
    if previous is not None:
        Score.objects.filter(pk=previous.pk).update(superseded_by=new)
    audit.log(
        "proposal.score", actor=member, obj=proposal, reason=new.comment, score=new.pk, **values,
        supersedes=previous.pk if previous else None,
        previous={f: getattr(previous, f) for f in SCORE_FIELDS} if previous else None,
    )
    return new


def _unique(model, field, candidate, max_length, sep="-"):
    """`candidate`, or candidate + sep + n, not yet used (case-insensitively) in model.field."""
    base = candidate[:max_length]
    value, n = base, 1
    while model.objects.filter(**{f"{field}__iexact": value}).exists():
        n += 1
        suffix = f"{sep}{n}"
        value = base[: max_length - len(suffix)].rstrip(" -_.") + suffix
    return value


def derive_collection_names(title: str, fallback: str) -> dict:
    """Unique slug, title, short name and subject prefix for a new collection named after `title`."""
    words = re.findall(r"[A-Za-z0-9]+", title)
    short = "-".join(words) or fallback
    slug = slugify(title) or slugify(fallback)
    return {
        "title": _unique(Collection, "title", title.strip() or fallback, 200, sep=" "),
        "slug": _unique(Collection, "slug", slug, 80),
        "short_name": _unique(Collection, "short_name", short, 64),
        "subject_prefix": _unique(Collection, "subject_prefix", short, 40),
    }


def _create_draft_collection(proposal: Proposal) -> Collection:
    names = derive_collection_names(proposal.title, f"Proposal-{proposal.pk}")
    size = proposal.estimated_size_gb
    collection = Collection(
        **names,
        cancer_type=proposal.cancer_type,
        description=proposal.description,
        license=proposal.license_requested,
        access=Access.LIMITED if proposal.license_requested == License.TCIA_RESTRICTED else Access.PUBLIC,
        status=CollectionStatus.DRAFT,
        declared_subjects=proposal.number_of_subjects,
        declared_size_bytes=int(Decimal(size) * GB) if size is not None else None,
    )
    collection.full_clean()
    collection.save()
    collection.modalities.set(proposal.modalities.all())
    collection.anatomic_sites.set(proposal.anatomic_sites.all())
    return collection


@transaction.atomic
def decide(*, proposal: Proposal, chair, outcome: str, reason: str) -> Decision:
    """Record the chair's decision; the latest decision sets the status. Accepting creates the
    draft collection curators will work on and freezes the promised counts."""
    proposal = Proposal.objects.select_for_update().get(pk=proposal.pk)
    if not permissions.can_decide(chair, proposal):
        raise PermissionDenied("Only the committee chair decides, and an accepted proposal is not decided again.")
    if outcome not in Outcome.values:
        raise ValidationError({"outcome": "Choose accept, reject, defer or needs information."})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give the reason; the submitter reads it."})
    decision = Decision.objects.create(proposal=proposal, chair=chair, outcome=outcome, reason=reason)
    old_status = proposal.status
    proposal.status = OUTCOME_STATUS[Outcome(outcome)]
    proposal.decided_at = decision.created_at
    update = ["status", "decided_at", "updated_at"]
    collection = None
    if outcome == Outcome.ACCEPT:
        collection = _create_draft_collection(proposal)
        proposal.collection = collection
        proposal.promised_subjects = proposal.number_of_subjects
        update += ["collection", "promised_subjects"]
        audit.log("collection.create", actor=chair, obj=collection, reason="Accepted proposal", proposal=proposal.pk)
        # The curation workspace, with the promised counts the completeness check compares against.
        from curation.services.submissions import create_submission

        create_submission(
            collection=collection, actor=chair, promised_subjects=proposal.number_of_subjects,
            promised_series=proposal.promised_series, start_curation=False,
        )
    proposal.save(update_fields=update)
    weights = selectors.ScoreWeights.current()
    mean = selectors.annotate_scores(Proposal.objects.filter(pk=proposal.pk), None, weights).get().weighted_mean
    audit.log(
        "proposal.decide", actor=chair, obj=proposal, reason=reason, outcome=outcome, decision=decision.pk,
        old_status=old_status, new_status=proposal.status, weighted_mean=mean,
        collection=collection.slug if collection else None,
    )
    label = Outcome(outcome).label.lower()
    notify(
        users=[proposal.submitter], proposal=proposal, kind=NotificationKind.DECISION, actor=chair,
        text=f"Decision on “{proposal.title}”: {label}. {reason}",
    )
    if collection is not None:
        curators = get_user_model().objects.filter(is_active=True, groups__name=roles.CURATOR).distinct()
        notify(
            users=curators, proposal=proposal, kind=NotificationKind.DECISION, actor=chair,
            text=f"“{proposal.title}” was accepted; the draft collection “{collection.title}” is ready for curation.",
        )
    return decision
