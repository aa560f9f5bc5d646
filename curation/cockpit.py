"""The submission cockpit: every curation step with its number and state, and a timeline.

Each step is a `Step` computed from the database when the page opens. The intake steps live
here; the curation apps (checks, review, PHI report) register theirs from their `ready()` with
`register_step`, as they register publication gates, so this module imports none of them.
The last step, "Publishable", asks the publication gates themselves: the cockpit cannot say
"ready" while publishing would be refused.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

from django.urls import reverse

DONE, ATTENTION, BLOCKED, WAITING = "done", "attention", "blocked", "waiting"
STATE_LABELS = {DONE: "Done", ATTENTION: "Needs attention", BLOCKED: "Blocking publication", WAITING: "Not started"}


@dataclass
class Step:
    key: str
    title: str
    state: str
    summary: str
    details: list[str] = field(default_factory=list)
    url: str = ""
    number: int = 0

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]


@dataclass
class Event:
    when: dt.datetime
    kind: str
    text: str
    url: str = ""


StepFn = Callable[["object"], Step | None]
EventFn = Callable[["object"], list[Event]]
_STEPS: list[tuple[int, StepFn]] = []
_EVENTS: list[EventFn] = []


def register_step(order: int, fn: StepFn) -> StepFn:
    """Add a step (idempotent); `order` places it: intake 10–30, checks 40, corrections 50,
    review 60, PHI 70, self-score 80, publishable 100."""
    if all(f is not fn for _, f in _STEPS):
        _STEPS.append((order, fn))
    return fn


def register_events(fn: EventFn) -> EventFn:
    if fn not in _EVENTS:
        _EVENTS.append(fn)
    return fn


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def steps(submission) -> list[Step]:
    found = []
    for order, fn in sorted(_STEPS + _CORE, key=lambda pair: pair[0]):
        step = fn(submission)
        if step is not None:
            found.append(step)
    for number, step in enumerate(found, 1):
        step.number = number
    return found


def timeline(submission, limit: int = 60) -> list[Event]:
    events = []
    for fn in _EVENTS + _CORE_EVENTS:
        events.extend(fn(submission))
    events.sort(key=lambda e: e.when, reverse=True)
    return events[:limit]


# --- The intake steps -------------------------------------------------------------------------

def _promise(one: str, many: str, have: int, promised: int | None) -> tuple[str, str | None]:
    """("12 of 10 promised series", "2 more series than the 10 promised") or (text, None)."""
    if not promised:
        return plural(have, one, many), None
    text = f"{have:,} of {promised:,} promised {many}"
    if have == promised:
        return text, None
    gap = abs(promised - have)
    return text, f"{gap:,} {'fewer' if have < promised else 'more'} {one if gap == 1 else many} than the {promised:,} promised"


def received_step(submission) -> Step:
    c = submission.collection
    batches = submission.batches.all()
    open_batches = batches.exclude(state="done").count()
    failed = sum(batches.values_list("failed", flat=True))
    parts, warnings = [plural(c.image_count, "image")], []
    for one, many, have, promised in (("series", "series", c.series_count, submission.promised_series),
                                      ("subject", "subjects", c.subject_count, submission.promised_subjects)):
        text, warning = _promise(one, many, have, promised)
        parts.append(text)
        if warning:
            warnings.append(warning)
    if open_batches:
        warnings.append(f"{plural(open_batches, 'batch', 'batches')} still in progress")
    if failed:
        warnings.append(f"{plural(failed, 'file')} could not be processed: retry from the batch page")
    state = WAITING if not c.image_count else (ATTENTION if warnings else DONE)
    return Step("received", "Received", state, ", ".join(parts), warnings,
                reverse("curation:submission", args=[submission.pk]) + "#batches-h")


def quarantine_step(submission) -> Step:
    rejected = submission.quarantine.filter(purged_at__isnull=True).count()
    return Step("quarantine", "Quarantine", ATTENTION if rejected else DONE,
                plural(rejected, "file") + " rejected and kept for inspection" if rejected else "No rejected files",
                url=reverse("curation:quarantine", args=[submission.pk]))


def corrections_step(submission) -> Step:
    from .models import Correction

    qs = Correction.objects.filter(collection=submission.collection)
    counts = {state: qs.filter(state=state).count() for state in ("applied", "failed", "pending", "running")}
    details = []
    if counts["failed"]:
        details.append(f"{plural(counts['failed'], 'correction')} failed: nothing of them was switched; run again")
    if counts["pending"] + counts["running"]:
        details.append(f"{plural(counts['pending'] + counts['running'], 'correction')} in progress")
    total = sum(counts.values())
    return Step("corrections", "Corrections", ATTENTION if details else DONE,
                f"{plural(counts['applied'], 'correction')} applied" if total else "None so far", details)


def publishable_step(submission) -> Step:
    from collections_app.services.publish import gate_failures

    failures = gate_failures(submission.collection)
    return Step("publishable", "Publishable", BLOCKED if failures else DONE,
                plural(len(failures), "gate") + " refuse publication" if failures else "Every publication gate passes",
                [f.message for f in failures], reverse("data_publish", args=[submission.collection.slug]))


_CORE: list[tuple[int, StepFn]] = [(10, received_step), (20, quarantine_step), (50, corrections_step),
                                   (100, publishable_step)]


def _intake_events(submission) -> list[Event]:
    from .models import Correction

    events = []
    for b in submission.batches.all()[:40]:
        counts = f"{b.accepted:,} accepted" + (f", {b.rejected:,} rejected" if b.rejected else "") + (
            f", {b.failed:,} failed" if b.failed else "")
        events.append(Event(b.created_at, "batch", f"Batch #{b.pk} ({b.get_source_display()}, {b.get_state_display().lower()}): "
                            f"{counts}", reverse("curation:batch", args=[b.pk])))
    for c in Correction.objects.filter(collection=submission.collection)[:40]:
        events.append(Event(c.created_at, "correction", f"{c.get_kind_display()} ({c.get_state_display().lower()}): {c.summary}"))
    for v in submission.collection.versions.all()[:20]:
        events.append(Event(v.created_at, "publication", f"Version {v.number} published ({plural(v.image_count, 'image')})"
                            + (" — withdrawn" if v.withdrawn_at else "")))
    return events


_CORE_EVENTS: list[EventFn] = [_intake_events]
