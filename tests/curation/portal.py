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


class Portal:
    def __init__(self, folder: Path, **env):
        self.folder = Path(folder)
        self.db = self.folder / "db.sqlite3"
        self.env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
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

    def start(self, *args, log: str) -> subprocess.Popen:
        """A `manage.py` command in the background, in its own process group (so SIGKILL reaches
        every process it forks), its output in `log` under the folder."""
        handle = (self.folder / log).open("w")
        return subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def shell(self, code: str, timeout=300) -> str:
        return self.manage("shell", "-c", code, timeout=timeout).stdout

    def migrate(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        self.manage("migrate", "--noinput", "-v0")

    def start_cluster(self, log="worker.log") -> subprocess.Popen:
        proc = self.start("qcluster", log=log)
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

    def query(self, sql: str, *params):
        """Read the portal's database directly (WAL lets a reader in while workers write)."""
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
