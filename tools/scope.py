"""The sandbox every built-in tool works in: what a crew declares is all a tool may touch.

Tools act on the model's words, and the model reads untrusted source text, so each check assumes a hostile
argument. A ``ToolScope`` is derived from the crew's YAML (``scope_for_crew``):

- reads: files under the folders of the crew's ``files`` sources, plus ``data/reference``;
- SQL: only the ``url`` of the crew's ``sql`` sources, one SELECT, opened read-only (``tools.safe_sql``);
- HTTP: only the ``host:port`` of the crew's ``http`` sources and enabled ``webhook`` targets; POSTs only to the
  webhook URLs themselves (``tools.safe_http``);
- writes: only under the output directory and the folders of the crew's declared file/report/database targets
  (never a folder holding ``config/`` or ``tools/``).

Relative paths are relative to the project directory (``data/inbox/0001.eml``, as ``crews.yaml`` and
``list_files`` spell them), except a path whose first part is not in the project directory and that has no
``..`` (a bare ``0001.eml``, ``sub/digest.md``): that one is relative to the first root, i.e. the first declared
folder for reads and the output directory for writes. Symlinks are followed before the containment check, so
a link out of a declared folder is refused; writes never go through a link at all.

A run sets its scope with ``use_scope``. Without one (a tool tried in a test or the REPL) the default scope
reads ``data/`` and writes the output directory, with no database and no host.
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from etlcrew.tools.data_wrapping import new_tool_tag
from etlcrew.tools.errors import ToolScopeError

from etlcrew.confine import ReadMissing, ReadRefused, check_regular, confined_path, open_confined, resolve_inside

if TYPE_CHECKING:
    from etlcrew.settings import Settings
    from etlcrew.specs.project import ProjectSpec

MAX_READ_BYTES = 1_000_000
_DEFAULT_PORTS = {"http": 80, "https": 443}
_READ_FIX = "declare it as a source in crews.yaml or pick a file under them"
_WRITE_FIX = "write under them (a relative path goes to the first) or declare a target in crews.yaml"


def host_key(url: str) -> str:
    """``host:port`` of an http(s) URL, port made explicit, so ``example.com`` and ``example.com:443`` match."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ToolScopeError(f"URL scheme '{scheme or '(none)'}' is not allowed: tools only reach http(s) URLs")
    if parts.username is not None or parts.password is not None:
        raise ToolScopeError("URLs with user:password@ are not allowed in tool calls")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        raise ToolScopeError(f"URL {url!r} has an invalid port") from None
    if not parts.hostname:
        raise ToolScopeError(f"URL {url!r} names no host")
    return f"{parts.hostname.lower()}:{port}"


def _normal(path: Path) -> Path:
    return Path(os.path.normpath(path))


def _inside(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


@dataclass(frozen=True)
class ToolScope:
    """Where a crew's tools may read, query, fetch and write; paths are absolute and normalised."""

    read_roots: tuple[Path, ...]
    sql_urls: tuple[str, ...] = ()
    http_hosts: tuple[str, ...] = ()
    write_roots: tuple[Path, ...] = ()
    max_read_bytes: int = MAX_READ_BYTES
    base_dir: Path = field(default_factory=Path.cwd)
    post_urls: tuple[str, ...] = ()
    tag: str = field(default_factory=new_tool_tag, compare=False)

    def __post_init__(self) -> None:  # roots given relative (tests, users' harnesses) are the project's
        for name in ("read_roots", "write_roots"):
            object.__setattr__(self, name, tuple(_normal(self.base_dir / root) for root in getattr(self, name)))

    def show(self, roots: tuple[Path, ...]) -> str:
        """Roots as the user wrote them (relative to the project when under it), for messages."""
        shown = [str(r.relative_to(self.base_dir)) if r.is_relative_to(self.base_dir) else str(r) for r in roots]
        return ", ".join(shown) or "(none)"

    def _place(self, raw: str, roots: tuple[Path, ...]) -> Path:
        if not raw.strip() or "\x00" in raw:
            raise ToolScopeError(f"path {raw!r} is not a usable file name")
        path = Path(raw).expanduser() if raw.startswith("~") else Path(raw)
        if path.is_absolute():
            return _normal(path)
        heads = {r.relative_to(self.base_dir).parts[0] for r in roots if r != self.base_dir
                 and r.is_relative_to(self.base_dir)}  # 'output/x.md' names the project's output, made yet or not
        head = path.parts[0] if path.parts else "."
        bare = ".." not in path.parts and head not in heads and not os.path.lexists(self.base_dir / head)
        return _normal((roots[0] if bare and roots else self.base_dir) / path)

    def _outside(self, raw: str, roots: tuple[Path, ...], verb: str, fix: str) -> ToolScopeError:
        return ToolScopeError(f"path {raw!r} is outside the folders this crew {verb}: {self.show(roots)}; {fix}")

    def _real(self, raw: str, candidate: Path, roots: tuple[Path, ...]) -> Path:
        """The candidate with symlinks followed; it must stay inside ``roots`` (``etlcrew.confine``)."""
        try:
            return resolve_inside(candidate, roots, self.show(roots))
        except ReadMissing:
            raise ToolScopeError(f"no file {raw!r} under {self.show(roots)}") from None
        except ReadRefused as exc:
            raise self._refused(raw, exc) from None

    @staticmethod
    def _refused(raw: str, exc: ReadRefused) -> ToolScopeError:
        return ToolScopeError(f"path {raw!r} is {exc}")

    def _candidate(self, raw: str) -> Path:
        candidate = self._place(raw, self.read_roots)
        if not _inside(candidate, self.read_roots):
            raise self._outside(raw, self.read_roots, "declares", _READ_FIX)
        return candidate

    def resolve_read(self, path: str | Path) -> Path:
        """A regular file with one name inside a read root, symlinks followed, at most ``max_read_bytes``."""
        raw = str(path)
        real = self._real(raw, self._candidate(raw), self.read_roots)
        self._check_file(raw, os.stat(real))
        return real

    def _check_file(self, raw: str, info: os.stat_result) -> None:
        try:
            check_regular(info)
        except ReadRefused as exc:
            hint = " (list it with list_files)" if stat.S_ISDIR(info.st_mode) else ""
            raise ToolScopeError(f"path {raw!r} is {exc}{hint}") from None
        if info.st_size > self.max_read_bytes:
            raise ToolScopeError(f"file {raw!r} is {info.st_size:,} bytes, over the {self.max_read_bytes:,} bytes "
                                 f"a tool may read")

    def read_bytes(self, path: str | Path) -> bytes:
        """The file's bytes, opened by ``open_confined`` (no link swapped in after the check, no fifo block)."""
        raw = str(path)
        candidate = self._candidate(raw)
        self.resolve_read(raw)  # the tool's own wording for missing, oversized and folder paths
        try:
            handle = open_confined(candidate, self.read_roots, self.show(self.read_roots))
        except ReadRefused as exc:
            raise self._refused(raw, exc) from None
        with handle:
            self._check_file(raw, os.fstat(handle.fileno()))
            return handle.read(self.max_read_bytes + 1)[: self.max_read_bytes]

    def readable(self, path: Path) -> bool:
        """Whether ``read_bytes`` would accept this path (for listings, which skip what reads refuse)."""
        try:
            self._check_file(str(path), os.stat(confined_path(path, self.read_roots, "")))
        except (ToolScopeError, ReadRefused, OSError):
            return False
        return True

    def resolve_dir(self, path: str | Path | None) -> Path:
        """A folder inside a read root (the first root when ``path`` is empty or None)."""
        if not self.read_roots:
            raise ToolScopeError("this crew declares no folders to read")
        raw = str(path or "").strip() or str(self.read_roots[0])
        candidate = self._place(raw, self.read_roots)
        if not _inside(candidate, self.read_roots):
            raise self._outside(raw, self.read_roots, "declares", _READ_FIX)
        real = self._real(raw, candidate, self.read_roots)
        if not real.is_dir():
            raise ToolScopeError(f"path {raw!r} is not a folder")
        return real

    def resolve_write(self, path: str | Path) -> Path:
        """Where a write may go: inside a write root, through no symlink, never onto one."""
        raw = str(path)
        if not self.write_roots:
            raise ToolScopeError("this crew declares no output folder to write to")
        candidate = self._place(raw, self.write_roots)
        if not _inside(candidate, self.write_roots):
            raise self._outside(raw, self.write_roots, "may write to", _WRITE_FIX)
        if candidate.is_symlink():
            raise ToolScopeError(f"path {raw!r} is a symlink; tools do not write through links")
        if candidate.exists() and not candidate.is_file():
            raise ToolScopeError(f"path {raw!r} exists and is not a regular file")
        existing = candidate.parent
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        real = existing.resolve() / candidate.relative_to(existing)
        if not _inside(real, tuple(r.resolve() for r in self.write_roots)):
            raise ToolScopeError(f"path {raw!r} goes through a symlink that leads outside the folders this crew "
                                 f"may write to: {self.show(self.write_roots)}")
        return real

    def write_text(self, path: str | Path, text: str) -> Path:
        """Write ``text`` atomically where ``resolve_write`` allows; the rename replaces a link, never follows it."""
        target = self.resolve_write(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.parent.resolve() != target.parent:  # a folder was swapped for a link while we created it
            raise ToolScopeError(f"path {str(path)!r} changed while it was being written")
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return target

    def check_sql(self, url: str, query: str) -> str:
        """The query, when ``url`` is a declared database and the query is one read-only SELECT."""
        from etlcrew.tools.safe_sql import check_select

        if url.strip() not in self.sql_urls:
            declared = ", ".join(self.sql_urls) or "(none)"
            raise ToolScopeError(f"database {url!r} is not one this crew declares: {declared}; "
                                 f"add it as a sql source in crews.yaml")
        return check_select(query)

    def check_host(self, url: str) -> str:
        """The URL, when it is http(s) to a declared ``host:port``."""
        key = host_key(url)
        if key not in self.http_hosts:
            declared = ", ".join(self.http_hosts) or "(none)"
            raise ToolScopeError(f"host {key} is not one this crew declares: {declared}; "
                                 f"add it as an http source or webhook target in crews.yaml")
        return url.strip()

    def check_post(self, url: str) -> str:
        """The URL, when it is one of the crew's enabled webhook targets (POSTs go nowhere else)."""
        self.check_host(url)
        wanted = url.strip().rstrip("/")
        if wanted not in {u.rstrip("/") for u in self.post_urls}:
            declared = ", ".join(self.post_urls) or "(none)"
            raise ToolScopeError(f"URL {url!r} is not a webhook target of this crew: {declared}")
        return url.strip()


def _write_root_ok(folder: Path, settings: Settings) -> bool:
    protected = (settings.config_dir, settings.project_dir / "tools")
    return not any(p == folder or p.is_relative_to(folder) for p in map(_normal, protected))


def scope_for_crew(project: ProjectSpec, crew: str, settings: Settings) -> ToolScope:
    """The crew's scope, derived from its sources and targets (see the module docstring)."""
    from etlcrew.pipeline.report import report_path
    from etlcrew.pipeline.targets.database import database_path
    from etlcrew.pipeline.targets.files import file_path
    from etlcrew.specs import datapath as dp

    spec = project.crews[crew]
    base = settings.project_dir

    def under(raw: str) -> Path:
        path = Path(raw).expanduser()
        return _normal(path if path.is_absolute() else base / path)

    reads = [under(s.path) for s in spec.sources if isinstance(s, dp.FilesSource)] + [_normal(base / "data/reference")]
    webhooks = [t.url for t in spec.targets if isinstance(t, dp.WebhookTarget) and t.enabled]
    hosts = [host_key(s.url) for s in spec.sources if isinstance(s, dp.HttpSource)] + [host_key(u) for u in webhooks]
    writes = [_normal(settings.output_dir)]
    for target in spec.targets:
        out: Path | None = None
        if isinstance(target, dp.ReportTarget):
            out = report_path(target, crew, settings)
        elif isinstance(target, dp.FileTarget):
            out = file_path(target, crew, settings)
        elif isinstance(target, dp.DatabaseTarget):
            out = database_path(target, crew, settings)
        if out is not None and _write_root_ok(under(str(out)).parent, settings):
            writes.append(under(str(out)).parent)
    return ToolScope(
        read_roots=tuple(dict.fromkeys(reads)),
        sql_urls=tuple(dict.fromkeys(s.url.strip() for s in spec.sources if isinstance(s, dp.SqlSource))),
        http_hosts=tuple(dict.fromkeys(hosts)),
        write_roots=tuple(dict.fromkeys(writes)),
        base_dir=base,
        post_urls=tuple(dict.fromkeys(webhooks)),
    )


def default_scope(settings: Settings | None = None) -> ToolScope:
    """Reads under ``data/``, writes under the output directory; no database, no host."""
    from etlcrew.settings import load_settings

    settings = settings or load_settings(load_dotenv_file=False)
    return ToolScope(read_roots=(settings.project_dir / "data",), write_roots=(settings.output_dir,),
                     base_dir=settings.project_dir)


_current: ContextVar[ToolScope | None] = ContextVar("etlcrew_tool_scope", default=None)
_active: list[ToolScope] = []  # scopes in force in this process, for threads started without our context
_active_lock = threading.Lock()


@contextmanager
def use_scope(scope: ToolScope) -> Iterator[ToolScope]:
    """Make ``scope`` the one tools use, in this context and in worker threads that do not copy contexts."""
    token = _current.set(scope)
    with _active_lock:
        _active.append(scope)
    try:
        yield scope
    finally:
        _current.reset(token)
        with _active_lock:
            for i in range(len(_active) - 1, -1, -1):
                if _active[i] is scope:
                    del _active[i]
                    break


def current_scope() -> ToolScope:
    """The scope in force: this context's, else the one scope active in the process, else the default.

    Two different scopes active at once, seen from a thread that carries neither, is refused rather than guessed.
    """
    scope = _current.get()
    if scope is not None:
        return scope
    with _active_lock:
        distinct = list(dict.fromkeys(_active))
    if len(distinct) == 1:
        return distinct[0]
    if len(distinct) > 1:
        raise ToolScopeError("several crews with different tool scopes run in this process and this thread "
                             "belongs to none of them; run the tool inside use_scope(...)")
    return default_scope()
