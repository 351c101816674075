"""A stand-in for the Hugging Face Hub on 127.0.0.1: the few endpoints `snapshot_download` uses
(revision info, the tree listing, HEAD and GET of `resolve` with commit, ETag and size headers,
and Range requests), serving the files of model directories the test built, and of data sets
(keyed `datasets/OWNER/NAME`, their files in subfolders too). It can throttle
downloads, cut a file's transfer off after some bytes (a dropped connection), and answer 404
for repositories it does not hold."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    def __init__(self, repos: dict[str, Path], bytes_per_s: float | None = None) -> None:
        self.repos = {
            repo: {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}
            for repo, folder in repos.items()
        }
        self.bytes_per_s = bytes_per_s
        self.cut_after: int | None = None  # drop each GET's connection after this many bytes
        self.ranges: list[str] = []  # the Range headers of the GETs, in order
        self.file_requests = 0  # HEADs and GETs of files (`resolve`)
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                hub._resolve(self, body=False)

            def do_GET(self) -> None:
                path = unquote(urlparse(self.path).path)
                if path.startswith("/api/models/"):
                    hub._api(self, path[len("/api/models/") :])
                elif path.startswith("/api/datasets/"):
                    hub._api(self, path[len("/api/datasets/") :], kind="datasets/")
                else:
                    hub._resolve(self, body=True)

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _files(self, handler, repo: str) -> dict[str, Path] | None:
        if repo not in self.repos:
            self._send(handler, 404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"})
            return None
        return self.repos[repo]

    def _api(self, handler, rest: str, kind: str = "") -> None:
        if "/revision/" in rest or "/tree/" not in rest:
            repo = rest.split("/revision/")[0]
            if (files := self._files(handler, kind + repo)) is not None:
                body = {"id": repo, "sha": COMMIT, "siblings": [{"rfilename": name} for name in files]}
                self._send(handler, 200, json.dumps(body).encode(), {"Content-Type": "application/json"})
        elif "/tree/" in rest:
            repo = rest.split("/tree/")[0]
            if (files := self._files(handler, kind + repo)) is not None:
                body = [
                    {"type": "file", "path": name, "size": p.stat().st_size, "oid": _etag(p)}
                    for name, p in files.items()
                ]
                self._send(handler, 200, json.dumps(body).encode(), {"Content-Type": "application/json"})
        else:
            self._send(handler, 404, b"{}", {})

    def _resolve(self, handler, body: bool) -> None:
        path = unquote(urlparse(handler.path).path).lstrip("/")
        if "/resolve/" not in path:
            self._send(handler, 404, b"", {})
            return
        self.file_requests += 1
        repo, rest = path.split("/resolve/", 1)
        name = rest.split("/", 1)[1]
        if (files := self._files(handler, repo)) is None:
            return
        if name not in files:
            self._send(handler, 404, b"", {"X-Error-Code": "EntryNotFound"})
            return
        data = files[name].read_bytes()
        headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{_etag(files[name])}"', "Accept-Ranges": "bytes"}
        start, status = 0, 200
        if body and (wanted := handler.headers.get("Range")):
            self.ranges.append(wanted)
            start, status = int(wanted.split("=")[1].split("-")[0]), 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        if not body:
            headers["Content-Length"] = str(len(data))
            self._send(handler, 200, b"", headers, length=len(data))
            return
        self._send(handler, status, data[start:], headers)

    def _send(self, handler, status: int, data: bytes, headers: dict, length: int | None = None) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        if "Content-Length" not in headers:
            handler.send_header("Content-Length", str(len(data) if length is None else length))
        handler.end_headers()
        chunk = 64 * 1024
        for offset in range(0, len(data), chunk):
            if self.cut_after is not None and offset >= self.cut_after:
                handler.close_connection = True
                return  # the connection drops mid-file
            handler.wfile.write(data[offset : offset + chunk])
            if self.bytes_per_s:
                time.sleep(chunk / self.bytes_per_s)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hangs up mid-file (a killed download) is what some tests do


def _etag(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
