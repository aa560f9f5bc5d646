"""Requests/s of the researcher's pages on the production server, against the login page.

    .venv/bin/python bench/pages.py [--seconds 8] [--rounds 3] [--connections 16]
    DATABASE_URL=postgresql://tcia_ci:tcia_ci@127.0.0.1:5432/tcia_bench .venv/bin/python bench/pages.py --big
    # again on the archive --big built (same database):  BENCH_REUSE=1 … --big

Builds an archive (SQLite in a temporary folder, or DATABASE_URL): the 15 seed collections, the
two demo collections published with DOIs; with --big, bench/api.py's 1,000,000-image archive
(20 collections x 500 series x 100 images, PostgreSQL) frozen as version 1 as in
bench/dicomweb.py, each with its DOIs. Then starts the production web server (`scripts/serve.sh web`:
granian, 2 workers of 4 threads, DEBUG off, every middleware, static files collected as in
production; `--server gunicorn` for 2 sync gunicorn workers instead) on a free port and measures with `wrk`
(Debian package wrk) in rounds: the login page (one plain template and a form), the catalogue,
a collection page and a DOI landing page. Each page's requests/s is divided by the login page's
in the same round; the median ratio of the rounds is printed. Goal: each >= 0.8.
"""
import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
GOAL = 0.8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg):
    print(msg, flush=True)


def environment(tmp: str, big: bool) -> dict:
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "tcia.settings", "DJANGO_DEBUG": "0", "TCIA_LOG_LEVEL": "WARNING",
        "DJANGO_SECRET_KEY": env.get("DJANGO_SECRET_KEY", "bench-only-secret-key-" + "x" * 40),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "TCIA_DEMO": "0",
        "DJANGO_STATIC_ROOT": os.path.join(tmp, "static"),
    })
    env.setdefault("TCIA_STORAGE_ROOT", os.path.join(tmp, "storage"))
    if not big and "DATABASE_URL" not in os.environ:
        env["TCIA_VAR_DIR"] = tmp
    return env


def build(big: bool) -> dict:
    """Runs in this process (Django set up from the environment): returns the URLs to measure."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from collections_app.models import Collection, CollectionVersion
    from collections_app.services.catalogue import load_catalogue
    from demo.services import load_demo
    from doi.models import DOI

    if big:
        import importlib.util

        spec = importlib.util.spec_from_file_location("bench_dicomweb", BENCH / "dicomweb.py")
        dw = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(dw)  # also loads bench/api.py (settings, schema, loader)
        if os.environ.get("BENCH_REUSE") != "1":
            t0 = time.perf_counter()
            dw.api.fresh_schema()
            n, took = dw.api.load()
            log(f"loaded {n:,} image rows with COPY in {took:.1f} s")
            log(f"froze version 1 of {Collection.objects.count()} collections in {dw.freeze_versions():.1f} s")
            finish_frozen()
            log(f"whole build {time.perf_counter() - t0:.1f} s")
    else:
        call_command("migrate", verbosity=0)
    if not Collection.objects.filter(slug="demo-chest-ct").exists():
        load_catalogue()
        load_demo()
    target = (Collection.objects.filter(slug="bench-07").first() if big else None) or Collection.objects.get(slug="demo-chest-ct")
    version = CollectionVersion.objects.filter(collection=target).order_by("-number").first()
    doi = DOI.objects.get(version=version)
    log(f"database: {connection.vendor} {connection.settings_dict['NAME']}; "
        f"{Collection.objects.count()} collections; measured collection {target.slug} "
        f"({version.image_count:,} images in version {version.number})")
    connection.close()
    return {"login": "/accounts/login/", "catalogue": "/", "collection": f"/collections/{target.slug}/",
            "landing": f"/doi/{doi.doi}"}


def finish_frozen():
    """What services.publish does after freezing, for the versions bench/dicomweb.py froze with
    SQL: the version's stored facts, the collection's released figures, and its DOIs."""
    from collections_app.models import Collection, CollectionVersion, Status
    from collections_app.services.publish import apply_released, version_facts
    from doi import services as doi_services

    for version in CollectionVersion.objects.select_related("collection").filter(number=1):
        CollectionVersion.objects.filter(pk=version.pk).update(**version_facts(version))
        version.refresh_from_db()
        apply_released(version.collection)
        Collection.objects.filter(pk=version.collection_id).update(status=Status.PUBLISHED)
        doi_services.sync_all(doi_services.prepare_for_version(version, major=True))


def wrk(url: str, seconds: int, connections: int) -> float:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url], capture_output=True, text=True,
                         check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise SystemExit(f"{url}: {bad.group(1)} responses were not 2xx/3xx:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--server", choices=["gunicorn", "granian"], default="granian",
                        help="the WSGI server: gunicorn sync workers, or granian's WSGI interface")
    parser.add_argument("--big", action="store_true", help="the 1,000,000-image PostgreSQL archive (needs DATABASE_URL)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if args.big and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("--big needs DATABASE_URL=postgresql://…")
    tmp = tempfile.mkdtemp(prefix="tcia-bench-pages-")
    env = environment(tmp, args.big)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    sys.path.append(str(BENCH))
    urls = build(args.big)
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    port = free_port()
    if args.server == "granian":  # the production start, as documented in README
        command = [str(ROOT / "scripts" / "serve.sh"), "web"]
        env.update({"TCIA_WEB_BIND": f"127.0.0.1:{port}", "TCIA_WEB_WORKERS": str(args.workers)})
    else:
        command = [sys.executable, "-m", "gunicorn", "tcia.wsgi:application", "-b", f"127.0.0.1:{port}", "-w",
                   str(args.workers), "--log-level", "warning"]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + urls["login"], timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        for name, path in urls.items():  # warm every worker's caches; every page must answer 200
            for _ in range(40):
                with urllib.request.urlopen(base + path, timeout=10) as r:
                    assert r.status == 200, (path, r.status)
        log(f"{args.server} {args.workers} workers, DEBUG off; wrk -t2 -c{args.connections} -d{args.seconds}s, "
            f"{args.rounds} rounds (login page, then each page)")
        ratios = {name: [] for name in urls if name != "login"}
        rates = {name: [] for name in urls}
        for r in range(args.rounds):
            for name in ratios:
                login = wrk(base + urls["login"], args.seconds, args.connections)
                page = wrk(base + urls[name], args.seconds, args.connections)
                rates["login"].append(login)
                rates[name].append(page)
                ratios[name].append(page / login)
        for name, path in urls.items():
            log(f"  {name:<10} {path:<40} {statistics.median(rates[name]):8.0f} req/s (median of {len(rates[name])})")
        for name, values in ratios.items():
            ratio = statistics.median(values)
            log(f"{name} / login: {ratio:.2f}x  (rounds: {', '.join(f'{v:.2f}' for v in values)}; goal >= {GOAL}: "
                f"{'PASS' if ratio >= GOAL else 'FAIL'})")
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
