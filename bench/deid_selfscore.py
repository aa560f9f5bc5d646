#!/usr/bin/env python
"""Cost of the de-identification self-score at intake, measured inside intake in one process.

Writes N synthetic files (curation.dicom.synth.write_corpus), takes them through intake
(Intake.take_many, chunks of 200, every registered hook on), and times what the self-score adds:
its original observer (before de-identification) and its ingest hook (judging the de-identified
file, writing the record), against the whole intake of the same files in the same run (the
baseline). A noisy shared machine moves the wall clock of whole rounds; the time inside the two
functions is measured on the same files as the total, so the share is what the self-score costs.
Then the score itself is computed once (reading every record).

    .venv/bin/python bench/deid_selfscore.py -n 1000
    DATABASE_URL=postgresql://…/tcia_bench .venv/bin/python bench/deid_selfscore.py -n 1000
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tcia.settings_test")
os.environ["TCIA_Q_SYNC"] = "0"  # tasks other hooks enqueue are queued, not run

import django  # noqa: E402

django.setup()

from django.test.utils import setup_databases, teardown_databases  # noqa: E402

from curation.dicom.synth import write_corpus  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-selfscore-"))
    paths = write_corpus(folder, args.n)
    blobs = [(p.read_bytes(), p.name, None) for p in paths]
    old = setup_databases(verbosity=0, interactive=False)
    try:
        from collections_app.models import Collection
        from curation import hooks
        from curation.phi import selfscore
        from curation.services.intake import Intake, start_batch
        from curation.services.submissions import create_submission
        from django.db import connection

        spent = {"observer": 0.0, "hook": 0.0}

        from bench.timing import timed as timer

        def timed(name, fn):
            return timer(fn, spent, name)

        assert hooks._OBSERVERS == [selfscore.observe]  # so timing observe_original times the self-score's
        hooks.observe_original = timed("observer", hooks.observe_original)
        for i, h in enumerate(hooks._INGEST_HOOKS):
            if h is selfscore.on_ingest:
                many = hooks._MANY.pop(h, None)
                hooks._INGEST_HOOKS[i] = w = timed("hook", h)
                if many is not None:
                    hooks._MANY[w] = timed("hook", many)

        def run(label):
            collection = Collection.objects.create(slug=f"bench-ss-{label}", title=label, short_name=label,
                                                   subject_prefix=f"BSS{label[:3].upper()}", status="draft")
            submission = create_submission(collection=collection)
            intake = Intake(submission, start_batch(submission=submission, source="cli"))
            t = time.perf_counter()
            for i in range(0, len(blobs), 200):
                items = intake.take_many(blobs[i:i + 200])
                assert all(it.outcome == "accepted" for it in items), [it.reason for it in items][:3]
            intake.finish()
            return time.perf_counter() - t, submission

        run("warm")  # caches, first imports
        spent.update(observer=0.0, hook=0.0)
        total, submission = run("measured")
        n = len(blobs)
        own = spent["observer"] + spent["hook"]
        print(f"database: {connection.vendor}; {n} files through intake (take_many, every hook)")
        print(f"  intake total        {1000 * total / n:7.2f} ms/file  (baseline)")
        print(f"  self-score observer {1000 * spent['observer'] / n:7.2f} ms/file")
        print(f"  self-score hook     {1000 * spent['hook'] / n:7.2f} ms/file")
        print(f"  self-score share    {100 * own / total:6.1f} % of intake; intake without it would be "
              f"{100 * own / (total - own):.1f} % faster")
        t = time.perf_counter()
        result = selfscore.self_score(submission)
        print(f"  self_score()        {1000 * (time.perf_counter() - t):7.1f} ms for {result.files} files "
              f"({result.items} items): score {result.score}")
        for c in result.failing:
            print(f"    failing: {c.label}: {c.failed} of {c.items}, e.g. {c.examples[:2]}")
    finally:
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
