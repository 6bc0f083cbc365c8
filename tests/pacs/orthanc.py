"""A real Orthanc (Debian's `orthanc` + `orthanc-dicomweb`) for the tests, and a fault-injecting proxy.

Orthanc runs from a temporary JSON config with its own storage folder, on a free port, answering only
local clients; the tests wait for its "started" log line rather than sleeping. The proxy forwards every
request to Orthanc unchanged unless a rule says to answer with an HTTP error, a broken reply, or
nothing at all until the test ends (a PACS that is slow beyond any timeout); it can also speak HTTPS
with a test certificate, since this Orthanc build's own TLS does not answer.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

PLUGIN_DIRS = (Path("/usr/share/orthanc/plugins"), Path("/usr/lib/orthanc"))
START_LINE = "Orthanc has started"
SBIN = (Path("/usr/sbin/Orthanc"),)


def find_orthanc() -> tuple[str, Path] | None:
    exe = shutil.which("Orthanc") or next((str(p) for p in SBIN if p.is_file()), None)  # sbin: off a user's PATH
    if exe is None:
        return None
    for folder in PLUGIN_DIRS:
        for plugin in sorted(folder.glob("libOrthancDicomWeb.so*")):
            return exe, plugin
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Orthanc:
    """One running Orthanc. ``url`` is its DICOMweb root; ``users`` its logins."""

    process: subprocess.Popen
    port: int
    users: dict[str, str]
    log: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/dicom-web"

    def upload(self, data: bytes) -> None:
        """Store one Part 10 file through Orthanc's own REST API (not the code under test)."""
        user, password = next(iter(self.users.items()))
        r = requests.post(f"{self.base}/instances", data=data, auth=(user, password), timeout=30)
        r.raise_for_status()

    def instances_of(self, study_uid: str) -> list[dict]:
        """Orthanc's own view (REST API) of a study's instances, to check what really got stored."""
        user, password = next(iter(self.users.items()))
        auth = (user, password)
        r = requests.post(f"{self.base}/tools/find", json={"Level": "Instance", "Expand": True,
                                                           "Query": {"StudyInstanceUID": study_uid}},
                          auth=auth, timeout=30)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)


def start_orthanc(folder: Path, users: dict[str, str]) -> Orthanc:
    """Start Orthanc with a fresh config and storage under ``folder``; returns once it serves requests."""
    found = find_orthanc()
    assert found is not None, "Orthanc is not installed"
    exe, plugin = found
    port = free_port()
    storage = folder / "storage"
    storage.mkdir(parents=True)
    config = {
        "Name": "xrayviewer-tests", "StorageDirectory": str(storage), "IndexDirectory": str(storage),
        "HttpPort": port, "DicomServerEnabled": False, "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True, "RegisteredUsers": users, "Plugins": [str(plugin)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "StudiesMetadata": "MainDicomTags"},
        "HttpDescribeErrors": True, "StableAge": 1, "ConcurrentJobs": 1,
    }
    cfg = folder / "orthanc.json"
    cfg.write_text(json.dumps(config), encoding="utf-8")
    proc = subprocess.Popen([exe, str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace")
    lines: queue.Queue[str | None] = queue.Queue()
    server = Orthanc(process=proc, port=port, users=users)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            server.log.append(line.rstrip())
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True, name="orthanc-log").start()
    while True:
        try:
            line = lines.get(timeout=60)
        except queue.Empty:
            server.stop()
            raise RuntimeError("Orthanc did not start within 60 s:\n" + "\n".join(server.log[-20:])) from None
        if line is None:
            raise RuntimeError("Orthanc exited at start:\n" + "\n".join(server.log[-20:]))
        if START_LINE in line:
            return server


# The fault proxy ---------------------------------------------------------------------------------------------------

@dataclass
class Rule:
    """Answer requests whose path contains ``match`` with ``status`` (and ``body``), or hang when status is 0."""

    match: str
    status: int
    body: bytes = b""
    content_type: str = "text/plain"
    method: str = ""


class FaultProxy:
    """Forwards to Orthanc, except where a rule says otherwise. Records every request path."""

    def __init__(self, target_port: int, *, tls: tuple[Path, Path] | None = None) -> None:
        """``tls`` = (certificate, key) makes the proxy speak HTTPS (Orthanc's own TLS is not used)."""
        self.target_port = target_port
        self.scheme = "https" if tls else "http"
        self.rules: list[Rule] = []
        self.requests: list[tuple[str, str]] = []
        self.release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="fault-proxy")
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}/dicom-web"

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    @contextlib.contextmanager
    def rule(self, *rules: Rule) -> Iterator[None]:
        self.rules.extend(rules)
        try:
            yield
        finally:
            for r in rules:
                self.rules.remove(r)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                body = self._body()
                proxy.requests.append((self.command, self.path))
                for rule in list(proxy.rules):
                    if rule.match in self.path and (not rule.method or rule.method == self.command):
                        if rule.status == 0:
                            proxy.release.wait(timeout=120)  # a PACS that never answers
                            self.close_connection = True
                            return
                        self.send_response(rule.status)
                        self.send_header("Content-Type", rule.content_type)
                        self.send_header("Content-Length", str(len(rule.body)))
                        self.end_headers()
                        self.wfile.write(rule.body)
                        return
                conn = http.client.HTTPConnection("127.0.0.1", proxy.target_port, timeout=60)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "transfer-encoding", "content-length", "connection")}
                headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                reply = conn.getresponse()
                data = reply.read()
                self.send_response(reply.status)
                for k, v in reply.getheaders():
                    if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_DELETE = _handle

        return Handler
