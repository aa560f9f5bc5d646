"""A throwaway portal for the benches that run manage.py commands as separate processes.

A temporary folder (storage, SQLite database) or, when DATABASE_URL names a PostgreSQL server, a
fresh database on it, made here and dropped on exit; migrated, with a corpus of N files and
collections with submissions. `manage(...)` runs a management command in that portal.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


class BenchPortal:
    def __init__(self, prefix: str, **extra_env):
        self.tmp = Path(tempfile.mkdtemp(prefix=prefix))
        self.env = dict(os.environ)
        self.env.update({"DJANGO_SETTINGS_MODULE": "tcia.settings", "DJANGO_DEBUG": "0", "TCIA_DEMO": "0",
                         # DEBUG off, as in production: with it on every statement is formatted and kept
                         # (Django's debug cursor), several ms per file on the receiver's and workers' paths
                         "DJANGO_SECRET_KEY": "bench-portal-secret-" + "x" * 40, "TCIA_VAR_DIR": str(self.tmp),
                         "TCIA_STORAGE_ROOT": str(self.tmp / "s"), "TCIA_Q_SYNC": "0", "TCIA_LOG_LEVEL": "WARNING"})
        self.env.update({k: str(v) for k, v in extra_env.items()})
        self.pg_name = None
        if os.environ.get("DATABASE_URL", "").startswith("postgres"):
            import psycopg

            parts = urlsplit(os.environ["DATABASE_URL"])
            self.pg_name = f"bench_{prefix.strip('-').replace('-', '_')}_{os.getpid()}"
            with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg_name}"')
            self.env["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{self.pg_name}"))
        else:
            self.env.pop("DATABASE_URL", None)

    @property
    def database(self) -> str:
        return "postgresql" if self.pg_name else "sqlite"

    def manage(self, *args, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True,
                              capture_output=True, text=True, **kw)

    def shell(self, code: str) -> str:
        """Runs Python in the portal; returns the last line it printed."""
        out = self.manage("shell", "-c", code).stdout.strip().splitlines()
        return out[-1] if out else ""

    def sql(self, query: str, params=()) -> list[tuple]:
        """Rows of one query on the portal's database, from this process (no Django process
        started: polling with `shell` costs a Django start-up, ~0.5 CPU-s, each time).
        Placeholders: %s."""
        if self.pg_name:
            import psycopg

            with psycopg.connect(self.env["DATABASE_URL"], autocommit=True) as conn:
                return conn.execute(query, params).fetchall()
        import sqlite3

        conn = sqlite3.connect(self.tmp / "db.sqlite3", timeout=30)
        try:
            return conn.execute(query.replace("%s", "?"), params).fetchall()
        finally:
            conn.close()

    def setup(self, n_files: int, slugs) -> Path:
        """Migrates, writes the corpus (curation.dicom.synth.write_corpus) and makes a collection
        with a submission per slug. Returns the corpus folder."""
        self.manage("migrate", "--noinput", "-v0")
        folder = self.tmp / "corpus"
        self.shell(f"from curation.dicom.synth import write_corpus; write_corpus({str(folder)!r}, {n_files})")
        self.shell("from collections_app.models import Collection as C\n"
                   "from curation.services.submissions import create_submission as s\n"
                   f"for slug in {tuple(slugs)!r}:\n"
                   "    s(collection=C.objects.create(slug=slug, title=slug, short_name=slug, subject_prefix=slug.upper()))")
        return folder

    def images(self, slug: str) -> int:
        return int(self.shell(f"from collections_app.models import Image; print(Image.objects.filter(collection__slug={slug!r}).count())"))

    def close(self):
        if self.pg_name:
            import psycopg

            parts = urlsplit(os.environ["DATABASE_URL"])
            with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
