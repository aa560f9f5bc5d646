#!/usr/bin/env python
"""`manage.py ingest --workers N`: files/s with 1 and 2 worker processes on the same corpus.

    .venv/bin/python bench/ingest_workers.py [-n 1000] [--rounds 2] [--workers 1 2]
    DATABASE_URL=postgresql://… .venv/bin/python bench/ingest_workers.py -n 1000   # a fresh database, dropped after

A throwaway portal (bench/portal.py), a corpus of N files (curation.dicom.synth.write_corpus);
each round ingests the whole folder once per worker count, each time into a collection of its
own (collections have their own UID namespaces, so every run stores N new images), alternating
the order between rounds. Wall time of the command until every file is stored and indexed.
Prints files/s per worker count (median of the rounds) and the speed-up over one worker.
This machine has 2 cores: more than 2 workers share them.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from portal import BenchPortal  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    slugs = [f"w{w}-r{r}" for r in range(args.rounds) for w in args.workers]
    with BenchPortal("bench-ingest-workers-") as portal:
        folder = portal.setup(args.n, slugs)
        mb = sum(p.stat().st_size for p in folder.rglob("*.dcm")) / 1e6
        print(f"corpus: {args.n} files, {mb:.0f} MB; database: {portal.database}", flush=True)
        rates = {w: [] for w in args.workers}
        for r in range(args.rounds):
            order = args.workers if r % 2 == 0 else list(reversed(args.workers))
            for w in order:
                slug = f"w{w}-r{r}"
                t0 = time.perf_counter()
                portal.manage("ingest", str(folder), "--collection", slug, "--workers", str(w), "--no-progress")
                took = time.perf_counter() - t0
                stored = portal.images(slug)
                assert stored == args.n, (slug, stored)
                rates[w].append(args.n / took)
                print(f"  round {r + 1}: --workers {w}: {args.n / took:7.1f} files/s ({took:.1f} s)", flush=True)
    base = statistics.median(rates[args.workers[0]])
    for w in args.workers:
        rate = statistics.median(rates[w])
        print(f"--workers {w}: {rate:7.1f} files/s (median of {len(rates[w])})   x{rate / base:.2f} of --workers {args.workers[0]}")


if __name__ == "__main__":
    main()
