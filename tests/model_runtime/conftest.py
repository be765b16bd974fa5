"""A real package index on 127.0.0.1 serving JSON metadata and small wheels, for offline download tests."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


def make_wheel(package: str, version: str, member: str, payload: bytes) -> bytes:
    """A minimal wheel (a zip) holding ``payload`` at ``member``."""
    buffer = io.BytesIO()
    dist = f"{package.replace('-', '_')}-{version}.dist-info"
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{package.replace('-', '_')}/__init__.py", "")
        archive.writestr(member, payload)
        archive.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
    return buffer.getvalue()


@dataclass
class FakeIndex:
    """Packages served by the loopback index; ``requests`` records every path asked for."""

    base: str = ""
    wheels: dict[tuple[str, str], bytes] = field(default_factory=dict)
    digests: dict[tuple[str, str], str] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    versioned_api: bool = True  # False: answer 404 like an index without /pypi/NAME/VERSION/json

    def add(self, package: str, version: str, member: str, payload: bytes, *, digest: str | None = None) -> None:
        wheel = make_wheel(package, version, member, payload)
        self.wheels[(package, version)] = wheel
        self.digests[(package, version)] = digest or hashlib.sha256(wheel).hexdigest()

    def file_entry(self, package: str, version: str) -> dict[str, Any]:
        wheel = self.wheels[(package, version)]
        name = f"{package.replace('-', '_')}-{version}-py3-none-any.whl"
        return {"filename": name, "url": f"{self.base}/files/{package}/{version}/{name}",
                "digests": {"sha256": self.digests[(package, version)]}, "size": len(wheel),
                "packagetype": "bdist_wheel"}


def _handler(index: FakeIndex) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            index.requests.append(self.path)
            parts = self.path.strip("/").split("/")
            body: bytes | None = None
            if parts[0] == "pypi" and len(parts) == 4 and index.versioned_api:
                key = (parts[1], parts[2])
                if key in index.wheels:
                    body = json.dumps({"urls": [index.file_entry(*key)]}).encode()
            elif parts[0] == "pypi" and len(parts) == 3:
                releases = {v: [index.file_entry(p, v)] for (p, v) in index.wheels if p == parts[1]}
                if releases:
                    body = json.dumps({"releases": releases}).encode()
            elif parts[0] == "files" and len(parts) == 4:
                body = index.wheels.get((parts[1], parts[2]))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def fake_index(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIndex]:
    """A running loopback index, selected through ETLCREW_PACKAGE_INDEX."""
    index = FakeIndex()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(index))
    index.base = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("ETLCREW_PACKAGE_INDEX", index.base)
    yield index
    server.shutdown()
    server.server_close()
