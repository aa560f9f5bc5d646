"""Builds the de-identification engine for a submission from what curators configured:
options, the subject map (in the database), safe private rules and pixel mask rules."""
import random

from django.conf import settings
from django.db import IntegrityError, transaction

from curation.deid import Deidentifier, MaskRule, MaskRules, Profile, SafePrivateDictionary, Subject
from curation.deid.pixels import parse_rects
from curation.deid.profile import TCIA_DEFAULT_OPTIONS

from ..models import PixelMaskRule, SafePrivateRule, SubjectMapping, Submission, original_key


class DbSubjectResolver:
    """Subject map kept in SubjectMapping rows; new patients get the next <prefix>-NNNN."""

    def __init__(self, submission: Submission):
        self.submission = submission
        self.prefix = submission.collection.subject_prefix
        self._cache: dict[str, Subject] = {}

    def resolve(self, original_patient_id: str, dataset) -> Subject:
        key = original_key(original_patient_id)
        if key in self._cache:
            return self._cache[key]
        row = SubjectMapping.objects.filter(submission=self.submission, original_key=key).first()
        if row is None:
            row = self._create(key)
        subject = Subject(row.subject_id, row.date_offset_days)
        self._cache[key] = subject
        return subject

    def _create(self, key: str) -> SubjectMapping:
        rng = random.SystemRandom()
        for _ in range(20):
            n = SubjectMapping.objects.filter(submission=self.submission).count() + 1
            subject_id = f"{self.prefix}-{n:04d}"
            while SubjectMapping.objects.filter(submission=self.submission, subject_id=subject_id).exists():
                n += 1
                subject_id = f"{self.prefix}-{n:04d}"
            try:
                with transaction.atomic():
                    return SubjectMapping.objects.create(
                        submission=self.submission,
                        original_key=key,
                        subject_id=subject_id,
                        date_offset_days=rng.randint(self.submission.date_offset_min, self.submission.date_offset_max),
                    )
            except IntegrityError:  # another worker took the number or the patient; look again
                existing = SubjectMapping.objects.filter(submission=self.submission, original_key=key).first()
                if existing is not None:
                    return existing
        raise RuntimeError("could not allocate a subject ID")


def profile_for(submission: Submission) -> Profile:
    options = submission.deid_options or list(TCIA_DEFAULT_OPTIONS)
    return Profile.from_names(options)


def safe_private_dictionary() -> SafePrivateDictionary:
    rows = [
        {"group": r.group, "creator": r.creator, "element": r.element, "action": r.disposition, "vr": r.vr, "name": r.name}
        for r in SafePrivateRule.objects.all()
    ]
    return SafePrivateDictionary.from_rows(rows) if rows else SafePrivateDictionary.load_default()


def mask_rules() -> MaskRules:
    rules = []
    for r in PixelMaskRule.objects.filter(active=True):
        rules.append(
            MaskRule(
                rects=tuple(parse_rects(r.rects)),
                manufacturer=r.manufacturer or None,
                model=r.model or None,
                rows=r.rows,
                columns=r.columns,
                name=r.name,
            )
        )
    return MaskRules(rules)


def build_deidentifier(submission: Submission, on_element=None) -> Deidentifier:
    secret = settings.TCIA_DEID_SECRET
    return Deidentifier(
        profile=profile_for(submission),
        uid_root=settings.TCIA_UID_ROOT,
        secret=secret.encode() if isinstance(secret, str) else secret,
        subjects=DbSubjectResolver(submission),
        safe_private=safe_private_dictionary(),
        masks=mask_rules(),
        on_element=on_element,
        uid_namespace=submission.collection.uid_namespace,
    )
