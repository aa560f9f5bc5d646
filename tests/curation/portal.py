"""A portal instance of its own for tests that need real processes: its own SQLite file (the
embedded default, in WAL mode), its own storage folder, `manage.py` commands and django-q2
workers (`qcluster`) as subprocesses that can be run side by side and killed with SIGKILL."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _postgres_database(url: str, name: str, drop: bool = False) -> str:
    """Create (or drop) database `name` on the server `url` names; returns its URL."""
    import psycopg
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if drop:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


class Portal:
    """`postgres=True`: a fresh database on the server that DATABASE_URL names (dropped by stop)."""

    def __init__(self, folder: Path, postgres: bool = False, **env):
        self.folder = Path(folder)
        self.db = self.folder / "db.sqlite3"
        self.env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        self.pg_name = None
        if postgres:
            self.pg_name = f"tcia_portal_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
            self.env["DATABASE_URL"] = _postgres_database(os.environ["DATABASE_URL"], self.pg_name)
        self.env.update({
            "DJANGO_SETTINGS_MODULE": "tcia.settings", "DJANGO_DEBUG": "1", "TCIA_DEMO": "0",
            "DJANGO_SECRET_KEY": "portal-test-secret-key", "TCIA_VAR_DIR": str(self.folder),
            "TCIA_STORAGE_ROOT": str(self.folder / "storage"), "TCIA_Q_SYNC": "0", "TCIA_Q_WORKERS": "2",
            "TCIA_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
        })
        self.env.update({k: str(v) for k, v in env.items()})
        self.clusters: list[subprocess.Popen] = []

    def manage(self, *args, timeout=300, check=True) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def start(self, *args, log: str, **env) -> subprocess.Popen:
        """A `manage.py` command in the background, in its own process group (so SIGKILL reaches
        every process it forks), its output in `log` under the folder; `env` adds variables."""
        handle = (self.folder / log).open("w")
        return subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, env={**self.env, **env}, stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def shell(self, code: str, timeout=300) -> str:
        return self.manage("shell", "-c", code, timeout=timeout).stdout

    def migrate(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        self.manage("migrate", "--noinput", "-v0")

    def start_cluster(self, log="worker.log", **env) -> subprocess.Popen:
        proc = self.start("qcluster", log=log, **env)
        self.clusters.append(proc)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def stop(self):
        for proc in self.clusters:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=20)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    self.kill(proc)
        if self.pg_name:
            _postgres_database(os.environ["DATABASE_URL"], self.pg_name, drop=True)

    def query(self, sql: str, *params):
        """Read the portal's database directly (SQLite's WAL lets a reader in while workers
        write). Placeholders are '?'."""
        if self.pg_name:
            import psycopg

            with psycopg.connect(self.env["DATABASE_URL"], autocommit=True) as conn:
                return [tuple(r) for r in conn.execute(sql.replace("?", "%s"), params).fetchall()]
        with sqlite3.connect(self.db, timeout=60) as conn:
            return conn.execute(sql, params).fetchall()

    def wait_for(self, sql: str, predicate, timeout=180, every=0.5):
        deadline = time.monotonic() + timeout
        rows = None
        while time.monotonic() < deadline:
            rows = self.query(sql)
            if predicate(rows):
                return rows
            time.sleep(every)
        raise AssertionError(f"timed out waiting: {sql} -> {rows}")
