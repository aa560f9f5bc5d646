"""Fixtures for the proposals tests: one user per role, and proposals in every state built
through the services (so they are in states the application itself produces)."""
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from collections_app.models import AnatomicSite, Modality
from proposals import services
from proposals.models import CHAIR_GROUP, Proposal, ProposalStatus

PASSWORD = "correct-horse-battery"


def make_user(username, *groups, **extra):
    user = get_user_model().objects.create_user(
        username=username, email=f"{username}@example.org", password=PASSWORD, **extra
    )
    for name in groups:
        # get_or_create: a transactional (browser) test flushes the groups the data migrations made.
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


@pytest.fixture
def users(db):
    return {
        "owner": make_user("owner", "submitter"),
        "other_submitter": make_user("other", "submitter"),
        "committee": make_user("member1", "committee"),
        "committee2": make_user("member2", "committee"),
        "chair": make_user("chair", "committee", CHAIR_GROUP),
        "curator": make_user("curator", "curator"),
        "admin": make_user("boss", "admin"),
    }


@pytest.fixture
def ct(db):
    return Modality.objects.get_or_create(code="CT", defaults={"name": "Computed Tomography"})[0]


@pytest.fixture
def mr(db):
    return Modality.objects.get_or_create(code="MR", defaults={"name": "Magnetic Resonance"})[0]


@pytest.fixture
def lung(db):
    return AnatomicSite.objects.get_or_create(name="Lung")[0]


def complete_fields(title="Lung CT screening cohort", **over):
    fields = {
        "title": title,
        "cancer_type": "Lung Cancer",
        "number_of_subjects": 120,
        "promised_series": 480,
        "estimated_size_gb": Decimal("85.5"),
        "description": "Low-dose CT from a screening programme.",
        "clinical_data": "Age, sex, smoking history, outcome.",
        "analysis_results": "Nodule segmentations (SEG).",
        "data_quality": "Uniform protocol on two scanners.",
        "scientific_value": "Few public screening cohorts with follow-up.",
        "reuse_potential": "Nodule detection and malignancy prediction.",
        "license_requested": "CC-BY-4.0",
        "deidentification": "local",
    }
    fields.update(over)
    return fields


@pytest.fixture
def make_proposal(users, ct, lung, django_capture_on_commit_callbacks):
    """make_proposal(status, owner=..., title=..., modalities=[...]) → a proposal brought to `status`
    by the services."""

    def make(status=ProposalStatus.SUBMITTED, *, owner=None, title="Lung CT screening cohort", modalities=None, **over):
        owner = owner or users["owner"]
        with django_capture_on_commit_callbacks(execute=True):
            p = services.save_draft(
                submitter=owner, fields=complete_fields(title, **over), anatomic_sites=[lung],
                modalities=modalities if modalities is not None else [ct],
            )
            if status == ProposalStatus.DRAFT:
                return p
            services.submit(proposal=p, actor=owner)
            outcome = {
                ProposalStatus.NEEDS_INFORMATION: "needs_information",
                ProposalStatus.ACCEPTED: "accept",
                ProposalStatus.REJECTED: "reject",
                ProposalStatus.DEFERRED: "defer",
            }.get(status)
            if outcome:
                services.decide(proposal=p, chair=users["chair"], outcome=outcome, reason="Test decision.")
        return Proposal.objects.get(pk=p.pk)

    return make


def login(client, user):
    client.force_login(user)
    return client
