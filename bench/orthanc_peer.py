"""Orthanc (Debian package `orthanc`, a C++ DICOM server with an SQLite index) as the peer the
ingest benchmarks are measured against: started with a configuration of our own in a temporary
folder (no DICOM port, no authentication, loopback only), files stored through its REST API
(`POST /instances`) on one keep-alive connection."""
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BINARY = shutil.which("Orthanc") or "/usr/sbin/Orthanc"


def available() -> bool:
    return os.path.exists(BINARY)


class Orthanc:
    def __enter__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="bench-orthanc-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = {
            "Name": "bench", "StorageDirectory": str(self.folder / "storage"), "IndexDirectory": str(self.folder / "index"),
            "HttpPort": self.port, "DicomServerEnabled": False, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "HttpServerEnabled": True, "KeepAlive": True, "Plugins": [],
            "StorageCompression": False, "ConcurrentJobs": 1, "HttpThreadsCount": 4,
        }
        (self.folder / "orthanc.json").write_text(json.dumps(config))
        self.proc = subprocess.Popen([BINARY, str(self.folder / "orthanc.json")], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/system")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("Orthanc did not start")
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        return self

    def store(self, data: bytes) -> None:
        self.conn.request("POST", "/instances", body=data, headers={"Content-Type": "application/dicom"})
        response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"Orthanc answered {response.status}: {body[:200]!r}")

    def count(self) -> int:
        self.conn.request("GET", "/statistics")
        return json.loads(self.conn.getresponse().read())["CountInstances"]

    def version(self) -> str:
        self.conn.request("GET", "/system")
        return json.loads(self.conn.getresponse().read()).get("Version", "?")

    def __exit__(self, *exc):
        self.conn.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
