#!/usr/bin/env python
"""The DICOM receiver end to end against `manage.py ingest` of the same files, in one run.

    .venv/bin/python bench/receiver.py [-n 1000] [--workers 2] [--rounds 3]
    DATABASE_URL=postgresql://… .venv/bin/python bench/receiver.py -n 1000   # a fresh database is made and dropped

A portal of its own (a temporary folder; SQLite, or a fresh PostgreSQL database on DATABASE_URL's
server), migrated; a corpus of N files (curation.dicom.synth.write_corpus). Then:

  (i)  `manage.py ingest FOLDER --collection ingest-bench`  (one process), wall time;
  (r)  `dicom_receiver` and `qcluster` (the task workers) running, dcmtk's `storescu` sends the
       folder in one association to another collection's AE title; wall time from the first
       byte sent until the batch is done (every file de-identified and indexed), and the time
       storescu took (what the sender waits: files are answered once staged).

The receiver and the workers run throughout (idle during (i)). With `--rounds N` (i) and (r) alternate,
each round into a collection pair of its own, odd rounds (i) first: the machine's speed drifts
within minutes, and the archive grows with every run. Prints files/s of each, the ratio r/i of each
round and their median (goal >= 0.8). Needs dcmtk (Debian package dcmtk).
"""
import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from portal import BenchPortal  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            name, rest = fh.read().split("(", 1)[1].rsplit(")", 1)
    except OSError:
        return None
    fields = rest.split()
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # name, ppid, CPU s


def _all():
    return {int(p): st for p in os.listdir("/proc") if p.isdigit() and (st := _stat(p)) is not None}


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and its living descendants (the qcluster's workers)."""
    procs = _all()
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            total += procs[pid][2]
            todo.extend(p for p, st in procs.items() if st[1] == pid)
    return total


def postgres_cpu() -> float:
    return sum(st[2] for st in _all().values() if st[0].startswith("postgres"))


def cpu_split(procs, since=None) -> dict:
    """CPU seconds of the receiver, the workers (if running), PostgreSQL and storescu (this
    process's finished children), less `since`."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    now = {"receiver": tree_cpu(procs[0].pid)}
    if len(procs) > 1:
        now["workers (qcluster)"] = tree_cpu(procs[1].pid)
    now.update({"PostgreSQL": postgres_cpu(), "storescu": children.ru_utime + children.ru_stime})
    return {k: v - (since or {}).get(k, 0.0) for k, v in now.items()}


def machine_busy() -> float:
    """CPU seconds this machine's CPUs have spent busy since boot (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


TASKS = '''
from collections import defaultdict
from django_q.models import Task
spent = defaultdict(lambda: [0, 0.0])
for func, started, stopped in Task.objects.values_list("func", "started", "stopped"):
    spent[func][0] += 1
    spent[func][1] += (stopped - started).total_seconds()
for func, (count, seconds) in sorted(spent.items(), key=lambda kv: -kv[1][1]):
    print(f"      {func}: {count}, {seconds:.1f} s")
'''


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternating (i)/(r) rounds (odd rounds (i) first), a collection pair each; the median ratio")
    parser.add_argument("--workers", type=int, default=2, help="task workers of the cluster (TCIA_Q_WORKERS)")
    parser.add_argument("--receiver-only", action="store_true",
                        help="only the receiver, no workers and no (i): files/s until storescu is answered for every file"
                             " (each staged durably)")
    args = parser.parse_args()
    if not shutil.which("storescu"):
        raise SystemExit("dcmtk's storescu is not installed (apt-get install dcmtk)")
    portal = BenchPortal("bench-receiver-", TCIA_Q_WORKERS=args.workers)
    env, manage, tmp = portal.env, portal.manage, portal.tmp

    def batch_state(slug):
        rows = portal.sql("SELECT b.state, b.processed FROM curation_intakebatch b JOIN curation_submission s ON"
                          " b.submission_id = s.id JOIN collections_app_collection c ON s.collection_id = c.id"
                          " WHERE c.slug = %s ORDER BY b.id DESC LIMIT 1", (slug,))
        return rows[0] if rows else ("-", 0)

    def queued() -> int:
        return portal.sql("SELECT COUNT(*) FROM django_q_ormq")[0][0]

    procs = []
    rounds = []  # per round: (i) s, (r) s, storescu s, busy CPU-s, CPU split, tasks
    rounds_n = 1 if args.receiver_only else args.rounds
    try:
        slugs = [s for k in range(1, rounds_n + 1) for s in (f"ingest-bench-{k}", f"receiver-bench-{k}")]
        folder = portal.setup(args.n, slugs)
        mb = sum(p.stat().st_size for p in folder.rglob("*.dcm")) / 1e6
        print(f"corpus: {args.n} files, {mb:.0f} MB; database: {portal.database}; {rounds_n} round(s)", flush=True)

        port = free_port()
        log = (tmp / "servers.log").open("w")
        procs.append(subprocess.Popen([sys.executable, "manage.py", "dicom_receiver", "--host", "127.0.0.1", "--port",
                                       str(port)], cwd=ROOT, env=env, stdout=log, stderr=log,
                                      start_new_session=True))
        if not args.receiver_only:
            procs.append(subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log,
                                          stderr=log, start_new_session=True))
        time.sleep(4)  # up

        def drain():
            # what was queued before (review tasks of (i): OCR, montages) is not the next
            # measurement's work: the workers finish it first
            while queued():
                time.sleep(0.5)
            portal.manage("shell", "--no-imports", "-c", "from django_q.models import Task; Task.objects.all().delete()")

        def run_i(k):
            t0 = time.perf_counter()
            manage("ingest", str(folder), "--collection", f"ingest-bench-{k}", "--no-progress")
            return time.perf_counter() - t0

        def run_r(k):
            slug = f"receiver-bench-{k}"
            ae = portal.shell("from curation.models import Submission as S; "
                              f"print(S.objects.get(collection__slug={slug!r}).ae_title)")
            busy0, split0 = machine_busy(), cpu_split(procs)
            t0 = time.perf_counter()
            subprocess.run(["storescu", "-aet", "BENCH", "-aec", ae, "+sd", "+r", "127.0.0.1", str(port), str(folder)],
                           check=True, capture_output=True)
            sent = time.perf_counter() - t0
            if args.receiver_only:
                split = cpu_split(procs, split0)  # before any other child process of this one is counted
                staged = portal.shell("from curation.models import StagedFile as F; "
                                      f"print(F.objects.filter(batch__submission__collection__slug={slug!r}).count())")
                assert int(staged) == args.n, staged
                return None, sent, split
            while True:
                state, processed = batch_state(slug)
                if state == "done":
                    break
                time.sleep(0.25)
            received = time.perf_counter() - t0
            busy, split = machine_busy() - busy0, cpu_split(procs, split0)
            assert int(processed) == args.n, processed
            tasks = portal.manage("shell", "--no-imports", "-c", TASKS).stdout.rstrip()
            return received, sent, busy, split, tasks

        if args.receiver_only:
            _, sent, split = run_r(1)
            print(f"(r) storescu -> receiver, no workers: {args.n / sent:.1f} files/s ({sent:.1f} s); CPU-ms per file: "
                  + ", ".join(f"{k} {v / args.n * 1000:.1f}" for k, v in split.items()))
            return
        for k in range(1, rounds_n + 1):
            # alternating order: the archive grows by N images with each run, and neither (i) nor
            # (r) should always meet the larger one
            if k % 2:
                drain()
                ingest = run_i(k)
                drain()
                r = run_r(k)
            else:
                drain()
                r = run_r(k)
                drain()
                ingest = run_i(k)
            rounds.append((ingest, *r))
            print(f"round {k}: (i) {args.n / ingest:.1f} files/s, (r) {args.n / r[0]:.1f} files/s: r/i {ingest / r[0]:.2f}",
                  flush=True)
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, 15)  # each started in its own session: the signal reaches its children
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.wait()
        portal.close()
    n = args.n
    for k, (ingest, received, sent, busy, split, tasks) in enumerate(rounds, 1):
        print(f"round {k}:")
        print(f"(i) manage.py ingest, one process        {n / ingest:8.1f} files/s  ({ingest:.1f} s)")
        print(f"(r) storescu -> receiver -> {args.workers} workers   {n / received:8.1f} files/s  ({received:.1f} s until"
              f" indexed; storescu done after {sent:.1f} s = {n / sent:.1f} files/s)")
        print(f"    the machine's CPUs were busy {busy / (received * os.cpu_count()) * 100:.0f} % of (r)'s wall time "
              f"({busy / n * 1000:.1f} CPU-ms per file: sender, receiver, workers, database)")
        print("    CPU-ms per file by process: " + ", ".join(f"{k} {v / n * 1000:.1f}" for k, v in split.items()))
        print("    tasks the workers finished by then (function: count, seconds in them):\n" + tasks)
    ratios = [ingest / received for ingest, received, *_ in rounds]
    print(f"ratio r/i per round: {', '.join(f'{r:.2f}' for r in ratios)} -> median {statistics.median(ratios):.2f}"
          "  (goal >= 0.8)")


if __name__ == "__main__":
    main()
