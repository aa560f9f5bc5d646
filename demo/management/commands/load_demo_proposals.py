"""Demo proposals for the committee pages: a draft, two submitted proposals (one with a question
and a score), and a deferred one. Uses the demo accounts; running it twice changes nothing."""
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from collections_app.services.catalogue import modality, site
from demo.services import create_demo_accounts
from proposals import services
from proposals.models import CHAIR_GROUP, Proposal

DEMO = [
    {
        "title": "Breast MR neoadjuvant response cohort", "cancer_type": "Breast Cancer", "sites": ["Breast"],
        "modalities": ["MR"], "number_of_subjects": 64, "promised_series": 512, "estimated_size_gb": Decimal("140"),
        "status": "submitted", "question": "Were the DCE acquisitions on the same protocol at both time points?",
        "score": (4, 5, 4),
    },
    {
        "title": "Head and neck CT with RT structures", "cancer_type": "Head and Neck Cancer", "sites": ["Head-Neck"],
        "modalities": ["CT", "RTSTRUCT"], "number_of_subjects": 210, "promised_series": 630,
        "estimated_size_gb": Decimal("95.5"), "status": "submitted",
    },
    {
        "title": "Prostate MR biparametric screening", "cancer_type": "Prostate Cancer", "sites": ["Prostate"],
        "modalities": ["MR"], "number_of_subjects": 40, "estimated_size_gb": Decimal("22"), "status": "deferred",
    },
    {
        "title": "Pediatric brain MR (draft)", "cancer_type": "Medulloblastoma", "sites": ["Brain"],
        "modalities": ["MR"], "number_of_subjects": 18, "estimated_size_gb": Decimal("9"), "status": "draft",
    },
]

TEXT = {
    "description": "Demonstration proposal: {title}. Images from routine care at two sites, 2015–2021.",
    "clinical_data": "Age, sex, stage, treatment and outcome at two years.",
    "analysis_results": "Expert segmentations of the primary tumour.",
    "data_quality": "One vendor per site, protocol documented, fewer than 3% of studies incomplete.",
    "scientific_value": "Few public cohorts with outcome data for this question.",
    "reuse_potential": "Response prediction, segmentation benchmarks, harmonisation studies.",
}


class Command(BaseCommand):
    help = "Load demonstration proposals (uses the demo submitter, committee and admin accounts)."

    @transaction.atomic
    def handle(self, *args, **options):
        create_demo_accounts()
        User = get_user_model()
        submitter = User.objects.get(username="submitter")
        committee = User.objects.get(username="committee")
        admin = User.objects.get(username="admin")
        # The demo committee member chairs, so one login shows scoring and deciding.
        committee.groups.add(Group.objects.get_or_create(name=CHAIR_GROUP)[0])
        created = 0
        for spec in DEMO:
            if Proposal.objects.filter(title=spec["title"], submitter=submitter).exists():
                continue
            fields = {k: spec[k] for k in ("title", "cancer_type", "number_of_subjects", "estimated_size_gb")}
            fields["promised_series"] = spec.get("promised_series")
            fields.update({k: v.format(title=spec["title"]) for k, v in TEXT.items()})
            fields.update({"license_requested": "CC-BY-4.0", "deidentification": "local"})
            proposal = services.save_draft(
                submitter=submitter, fields=fields, anatomic_sites=[site(s) for s in spec["sites"]],
                modalities=[modality(m) for m in spec["modalities"]],
            )
            if spec["status"] != "draft":
                proposal = services.submit(proposal=proposal, actor=submitter)
            if spec.get("question"):
                services.ask_question(proposal=proposal, asker=committee, text=spec["question"])
            if spec.get("score"):
                dq, sv, rp = spec["score"]
                services.score(proposal=proposal, member=admin, data_quality=dq, scientific_value=sv,
                               reuse_potential=rp, comment="Strong cohort; the protocol question matters.")
            if spec["status"] == "deferred":
                services.decide(proposal=proposal, chair=admin, outcome="defer",
                                reason="Waiting for the data-use agreement of the second site.")
            created += 1
        self.stdout.write(self.style.SUCCESS(
            f"{created} demo proposal(s) created. Log in as committee/committee-demo (member and chair) "
            "or submitter/submitter-demo and open /proposals/."
        ))
