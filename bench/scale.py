#!/usr/bin/env python
"""What TCIA's 30.9 million images / 37,568 subjects would need, from costs measured here.

    DATABASE_URL=postgresql://… .venv/bin/python bench/scale.py [-n 1000] [--workers 2]

A throwaway portal on a fresh PostgreSQL database (bench/portal.py) ingests a corpus of N files
(curation.dicom.synth.write_corpus) with `manage.py ingest --workers W`, all hooks on, as
production would. Measured in that run:

  * files/s of the machine (W worker processes on its 2 cores) and the CPU the PostgreSQL
    backends of that database spent per file (sampled from /proc: the server runs on this machine);
  * database bytes per image: every table and index the ingest filled (images, stored files,
    index, intake items, check facts, PHI report rows, review rows, queue), and the largest;
  * archive bytes per image against the files' own size.

and the CPU seconds the ingest processes spent per file (a machine's capacity is its cores over
that: wall time on a loaded machine understates it). Then projects those linearly to 30.9 M
images: ingest hours on 1, 4 and 16 worker machines (each with --cores cores, until the database
server's CPU is the limit), database and index size,
bucket size (at --mean-image-kb per image: our corpus' mean unless given), and download
throughput per web worker from docs/benchmarks.md's zip figure (--zip-mb-s). Linear scaling is
an assumption the figures state, not a measurement: see docs/scale.md.
"""
import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from portal import BenchPortal  # noqa: E402

TCIA_IMAGES = 30_900_000
TCIA_SUBJECTS = 37_568


class BackendCpu:
    """CPU seconds of the PostgreSQL backends serving one database, sampled every 0.1 s while
    running (a backend's title names its database; a backend that exits between samples loses
    at most its last 0.1 s). Other databases on the same server are not counted."""

    def __init__(self, database: str):
        self.database, self.seen, self._stop = database, {}, None

    def _sample(self):
        tick = os.sysconf("SC_CLK_TCK")
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if not title.startswith("postgres: ") or f" {self.database} " not in title:
                    continue
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            self.seen[pid] = (int(fields[11]) + int(fields[12])) / tick

    def __enter__(self):
        import threading

        self._stop = threading.Event()
        self._sample()
        self.start = dict(self.seen)

        def run():
            while not self._stop.wait(0.1):
                self._sample()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def seconds(self) -> float:
        return sum(cpu - self.start.get(pid, 0) for pid, cpu in self.seen.items())


def sizes(portal: BenchPortal) -> list[tuple[str, str, int]]:
    """(kind, name, bytes) of every table (heap + TOAST) and index with data, largest first, after
    VACUUM FULL, so that rows a queue took and deleted (PHI values waiting to be counted, staged
    files) do not count as the archive's size. A table left empty reads as a few pages."""
    code = ("from django.db import connection\n"
            "c = connection.cursor()\n"
            "c.execute('VACUUM FULL')\n"
            "c.execute(\"SELECT CASE WHEN c.relkind = 'i' THEN 'index' ELSE 'table' END, c.relname, "
            "CASE WHEN c.relkind = 'i' THEN pg_relation_size(c.oid) ELSE pg_table_size(c.oid) END, "
            "(SELECT count(*) > 0 FROM pg_stat_user_tables t WHERE t.relid = coalesce(i.indrelid, c.oid) AND t.n_live_tup > 0) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_index i ON i.indexrelid = c.oid "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')\")\n"
            "print(repr(c.fetchall()))")
    import ast

    rows = ast.literal_eval(portal.shell(code))
    # A table (or its index) with no live row left is a queue the ingest emptied, whatever its files hold.
    return sorted(((k, name, size) for k, name, size, live in rows if size > 16384 and live), key=lambda r: -r[2])


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000:
            return f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} EB"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mean-image-kb", type=float, help="mean stored size of one image (default: the corpus')")
    parser.add_argument("--zip-mb-s", type=float, default=1084,
                        help="zip download MB/s of one web worker (docs/bench/publication.md, a loaded run)")
    parser.add_argument("--db-cores", type=int, default=16, help="cores of the database server in the projection")
    parser.add_argument("--cores", type=int, default=os.cpu_count(), help="cores of each worker machine (default: this one's)")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("needs DATABASE_URL=postgresql://… (the server must run on this machine)")
    with BenchPortal("bench-scale-") as portal:
        folder = portal.setup(args.n, ("scale",))
        corpus_bytes = sum(p.stat().st_size for p in folder.rglob("*.dcm"))
        before = sizes(portal)
        t0 = time.perf_counter()
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        with BackendCpu(portal.pg_name) as backends:
            portal.manage("ingest", str(folder), "--collection", "scale", "--workers", str(args.workers), "--no-progress")
        wall, db_cpu = time.perf_counter() - t0, backends.seconds
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        worker_cpu = (children.ru_utime + children.ru_stime) - (children0.ru_utime + children0.ru_stime)
        assert portal.images("scale") == args.n
        after = sizes(portal)
        archive = sum(p.stat().st_size for p in (portal.tmp / "s").rglob("*") if p.is_file() and "archive" in p.parts)
    grown = {(k, name): size - dict(((k2, n2), s2) for k2, n2, s2 in before).get((k, name), 0) for k, name, size in after}
    n = args.n
    measured_rate = n / wall
    worker_ms = worker_cpu / n * 1000
    # A machine's capacity from CPU per file (its 2 cores busy), which a loaded machine's wall time hides.
    rate = args.cores / (worker_cpu / n) if worker_cpu else measured_rate
    db_ms = db_cpu / n * 1000
    per_image_db = sum(v for v in grown.values() if v > 0) / n
    per_image_index = sum(v for (k, _), v in grown.items() if k == "index" and v > 0) / n
    mean_kb = args.mean_image_kb or corpus_bytes / n / 1000
    print(f"measured: {n} files ({human(corpus_bytes)}), manage.py ingest --workers {args.workers}: {measured_rate:.1f} files/s "
          f"wall; CPU per file: ingest processes {worker_ms:.2f} ms, PostgreSQL backends {db_ms:.2f} ms")
    print(f"a {args.cores}-core worker machine at full use: {rate:.1f} files/s (from the CPU per file; used below)")
    print(f"database: {human(per_image_db)} per image ({human(per_image_index)} of it in indexes); "
          f"archive: {human(archive / n)} per image ({archive / corpus_bytes:.2f}x the files)")
    print("largest per image:")
    for (kind, name), size in sorted(grown.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {kind:<5} {name:<58} {size / n:8.0f} B")
    print(f"\nprojection to TCIA: {TCIA_IMAGES:,} images, {TCIA_SUBJECTS:,} subjects (linear in images)")
    db_limit = args.db_cores / (db_ms / 1000) if db_ms > 0 else float("inf")
    for machines in (1, 4, 16):
        total_rate = min(rate * machines, db_limit)
        bound = "database CPU" if rate * machines > db_limit else "worker machines"
        print(f"  ingest on {machines:>2} machine(s): {TCIA_IMAGES / total_rate / 3600:8.1f} h  "
              f"({total_rate:,.0f} files/s; bound by {bound}; {args.db_cores}-core database at "
              f"{min(1.0, rate * machines / db_limit) * 100:.1f} % CPU)")
    print(f"  database: {human(per_image_db * TCIA_IMAGES)} ({human(per_image_index * TCIA_IMAGES)} indexes); largest:")
    for (kind, name), size in sorted(grown.items(), key=lambda kv: -kv[1])[:5]:
        print(f"    {kind} {name}: {human(size / n * TCIA_IMAGES)}")
    print(f"  bucket: {human(mean_kb * 1000 * TCIA_IMAGES * archive / corpus_bytes)} at {mean_kb:.0f} KB per image")
    print(f"  downloads: one web worker streams {args.zip_mb_s:,.0f} MB/s of zips = "
          f"{args.zip_mb_s * 1e6 / (mean_kb * 1000):,.0f} images/s; the whole archive in "
          f"{mean_kb * 1000 * TCIA_IMAGES / (args.zip_mb_s * 1e6) / 3600:.1f} h per worker")


if __name__ == "__main__":
    main()
