"""The tool scope on real files, folders, links, fifos and SQLite: every escape is refused with a clear reason."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from etlcrew.tools.safe_sql import check_select, run_select
from etlcrew.tools.scope import ToolScope, ToolScopeError, current_scope, host_key, scope_for_crew, use_scope
from yaml_edit import edit_config

from etlcrew.settings import load_settings
from etlcrew.specs.loader import load_project


def base(scope: ToolScope) -> Path:
    return scope.base_dir


# --- reads ---------------------------------------------------------------------------------------------------

def test_reads_inside_declared_folders(sandbox: ToolScope) -> None:
    inbox = base(sandbox) / "data" / "inbox"
    assert sandbox.resolve_read("data/inbox/a.txt") == inbox / "a.txt"  # as crews.yaml spells paths
    assert sandbox.resolve_read("a.txt") == inbox / "a.txt"  # a bare name: the first root
    assert sandbox.resolve_read(str(inbox / "b.md")) == inbox / "b.md"  # absolute, inside
    assert sandbox.resolve_read("data/inbox/../inbox/a.txt") == inbox / "a.txt"  # '..' that stays inside
    assert sandbox.read_bytes("data/reference/products.csv").startswith(b"product,price")


@pytest.mark.parametrize("path", [
    "../secret.txt",                  # traversal out of the first root
    "../../secret.txt",
    "data/../../etc/passwd",          # traversal dressed as a declared path
    "data/../secret.txt",             # the project, but not a declared folder
    "/etc/passwd",                    # absolute, outside
    "/etc/shadow-does-not-exist",     # outside and missing: no hint whether it exists
    "secret.txt",                     # a project file outside the declared folders
    "data/shop.sqlite",               # a sibling of the declared folders
])
def test_paths_outside_the_declared_folders_are_refused(sandbox: ToolScope, path: str) -> None:
    with pytest.raises(ToolScopeError, match=r"is outside the folders this crew declares: data/inbox, "
                                             r"data/reference; declare it as a source"):
        sandbox.resolve_read(path)


def test_symlink_inside_a_declared_folder_pointing_outside_is_refused(sandbox: ToolScope) -> None:
    (base(sandbox) / "data/inbox/passwd.txt").symlink_to("/etc/passwd")
    (base(sandbox) / "data/inbox/secret.txt").symlink_to(base(sandbox) / "secret.txt")
    for name in ("passwd.txt", "data/inbox/secret.txt"):
        with pytest.raises(ToolScopeError, match=r"is a symlink to a file outside data/inbox, data/reference$"):
            sandbox.read_bytes(name)


def test_symlinked_folder_pointing_outside_is_refused(sandbox: ToolScope, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "loot.txt").write_text("loot", encoding="utf-8")
    (base(sandbox) / "data/inbox/linked").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ToolScopeError, match="is under a symlinked folder that leads outside data/inbox"):
        sandbox.resolve_read("data/inbox/linked/loot.txt")
    with pytest.raises(ToolScopeError, match="is a symlink to a folder outside data/inbox"):
        sandbox.resolve_dir("data/inbox/linked")


def test_symlink_that_stays_inside_is_followed(sandbox: ToolScope) -> None:
    (base(sandbox) / "data/inbox/alias.txt").symlink_to(base(sandbox) / "data/inbox/a.txt")
    assert sandbox.read_bytes("alias.txt") == b"hello from a\n"


def test_oversized_file_is_refused(sandbox: ToolScope) -> None:
    (base(sandbox) / "data/inbox/big.txt").write_bytes(b"x" * 2_000)
    small = ToolScope(read_roots=sandbox.read_roots, base_dir=base(sandbox), max_read_bytes=1_000)
    with pytest.raises(ToolScopeError, match=r"is 2,000 bytes, over the 1,000 bytes a tool may read"):
        small.read_bytes("big.txt")


def test_fifo_and_devices_are_refused(sandbox: ToolScope) -> None:
    os.mkfifo(base(sandbox) / "data/inbox/pipe.txt")
    with pytest.raises(ToolScopeError, match="not a regular file"):
        sandbox.read_bytes("pipe.txt")  # refused before open: a fifo would block the tool
    with pytest.raises(ToolScopeError, match="outside"):
        sandbox.read_bytes("/dev/zero")
    devices = ToolScope(read_roots=(Path("/dev"),), base_dir=Path("/"))
    with pytest.raises(ToolScopeError, match="not a regular file"):
        devices.read_bytes("/dev/zero")  # even with /dev declared, a device is not a file


def test_folders_missing_files_and_odd_names(sandbox: ToolScope) -> None:
    with pytest.raises(ToolScopeError, match="is a folder"):
        sandbox.resolve_read("data/inbox")
    with pytest.raises(ToolScopeError, match=r"no file 'nope\.txt' under data/inbox"):
        sandbox.resolve_read("nope.txt")
    for bad in ("", "   ", "a\x00.txt"):
        with pytest.raises(ToolScopeError, match="not a usable file name"):
            sandbox.resolve_read(bad)


# --- writes --------------------------------------------------------------------------------------------------

def test_writes_go_under_the_output_folder(sandbox: ToolScope) -> None:
    written = sandbox.write_text("digest.md", "# digest\n")
    assert written == base(sandbox) / "output/digest.md"
    assert sandbox.write_text("output/sub/deep.md", "x") == base(sandbox) / "output/sub/deep.md"
    assert written.read_text(encoding="utf-8") == "# digest\n"


@pytest.mark.parametrize("path", ["/etc/passwd", "../escape.md", "../../escape.md", "output/../escape.md",
                                  "data/inbox/a.txt", "/tmp/escape.md"])
def test_writes_outside_the_output_folder_are_refused(sandbox: ToolScope, path: str) -> None:
    with pytest.raises(ToolScopeError, match=r"outside the folders this crew may write to: output"):
        sandbox.write_text(path, "pwned")
    assert (base(sandbox) / "data/inbox/a.txt").read_text(encoding="utf-8") == "hello from a\n"
    assert not (base(sandbox) / "escape.md").exists()


def test_writes_through_symlinks_are_refused(sandbox: ToolScope, tmp_path: Path) -> None:
    victim = tmp_path / "victim.md"
    victim.write_text("original", encoding="utf-8")
    (base(sandbox) / "output/link.md").symlink_to(victim)
    with pytest.raises(ToolScopeError, match="is a symlink; tools do not write through links"):
        sandbox.write_text("link.md", "pwned")
    outside = tmp_path / "outdir"
    outside.mkdir()
    (base(sandbox) / "output/linkdir").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ToolScopeError, match="goes through a symlink that leads outside"):
        sandbox.write_text("linkdir/x.md", "pwned")
    os.link(victim, base(sandbox) / "output/hard.md")  # a hard link is replaced, never written through
    sandbox.write_text("hard.md", "new")
    assert (base(sandbox) / "output/hard.md").read_text(encoding="utf-8") == "new"
    assert victim.read_text(encoding="utf-8") == "original"
    assert list(outside.iterdir()) == []


# --- SQL and HTTP --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "reason"), [
    ("INSERT INTO orders VALUES (99, 1, 'x')", "starts with INSERT"),
    ("UPDATE orders SET amount = 0", "starts with UPDATE"),
    ("DELETE FROM orders", "starts with DELETE"),
    ("DROP TABLE orders", "starts with DROP"),
    ("ATTACH DATABASE '/tmp/x.db' AS x", "starts with ATTACH"),
    ("PRAGMA journal_mode = DELETE", "starts with PRAGMA"),
    ("SELECT 1; DROP TABLE orders", "more than one statement"),
    ("SELECT 1;\n-- hidden\nDELETE FROM orders;", "more than one statement"),
    ("WITH x AS (SELECT 1) DELETE FROM orders", "contains DELETE"),
    ("SELECT * INTO copy FROM orders", "contains INTO"),
    ("", "empty"),
])
def test_sql_writes_and_multiple_statements_are_refused(sandbox: ToolScope, query: str, reason: str) -> None:
    with pytest.raises(ToolScopeError, match=reason):
        sandbox.check_sql("sqlite:///data/shop.sqlite", query)


def test_sql_strings_and_comments_do_not_fool_the_check() -> None:
    assert check_select("SELECT 'a; DROP TABLE orders' AS s;") == "SELECT 'a; DROP TABLE orders' AS s"
    assert check_select("SELECT note -- ; delete\nFROM orders") == "SELECT note -- ; delete\nFROM orders"
    assert check_select("select replace(note, 'a', 'b') from orders").startswith("select")


def test_undeclared_database_is_refused(sandbox: ToolScope) -> None:
    with pytest.raises(ToolScopeError, match=r"database 'sqlite:////etc/other.db' is not one this crew declares: "
                                             r"sqlite:///data/shop.sqlite"):
        sandbox.check_sql("sqlite:////etc/other.db", "SELECT 1")


def test_the_connection_itself_cannot_write(sandbox: ToolScope) -> None:
    """Below the text check: a read-only connection with an authorizer that allows reading only."""
    with pytest.raises(ToolScopeError, match="refused"):
        run_select("sqlite:///data/shop.sqlite", "DELETE FROM orders", base(sandbox), 10)
    with pytest.raises(ToolScopeError, match="refused"):
        run_select("sqlite:///data/shop.sqlite", "SELECT 1; DELETE FROM orders", base(sandbox), 10)
    rows = run_select("sqlite:///data/shop.sqlite", "SELECT count(*) AS n FROM orders", base(sandbox), 10)
    assert rows["rows"] == [{"n": 7}]


@pytest.mark.parametrize(("url", "reason"), [
    ("file:///etc/passwd", "scheme 'file' is not allowed"),
    ("ftp://127.0.0.1/x", "scheme 'ftp' is not allowed"),
    ("http://127.0.0.1:9/x", r"host 127.0.0.1:9 is not one this crew declares: 127.0.0.1:8765"),
    ("http://evil.example/x", "host evil.example:80 is not one"),
    ("http://127.0.0.1:8765@evil.example/", "user:password@ are not allowed"),
])
def test_undeclared_hosts_and_schemes_are_refused(url: str, reason: str) -> None:
    scope = ToolScope(read_roots=(), http_hosts=("127.0.0.1:8765",))
    with pytest.raises(ToolScopeError, match=reason):
        scope.check_host(url)


def test_host_key_makes_the_port_explicit() -> None:
    assert host_key("https://API.example.com/v1") == "api.example.com:443"
    assert host_key("http://127.0.0.1:8765/hooks") == "127.0.0.1:8765"


# --- deriving and setting the scope ---------------------------------------------------------------------------

def test_scope_for_the_shipped_crews(project_dir: Path) -> None:
    settings = load_settings()
    project = load_project(settings.config_dir)
    inbox = scope_for_crew(project, "support_inbox", settings)
    assert inbox.read_roots == (project_dir / "data/inbox", project_dir / "data/reference")
    assert inbox.write_roots == (settings.output_dir,)
    assert inbox.http_hosts == () and inbox.post_urls == ()  # its webhook is disabled
    orders = scope_for_crew(project, "orders_enrichment", settings)
    assert orders.sql_urls == ("sqlite:///data/shop.sqlite",)
    assert orders.read_roots == (project_dir / "data/reference",)


def test_scope_lists_declared_hosts_and_target_folders(project_dir: Path) -> None:
    crews = project_dir / "config/crews.yaml"
    edit_config(crews, "      enabled: false\n", "      enabled: true\n")
    edit_config(crews, "    - type: report\n", "    - type: report\n      path: reports/inbox.md\n")
    settings = load_settings()
    scope = scope_for_crew(load_project(settings.config_dir), "support_inbox", settings)
    assert scope.http_hosts == ("127.0.0.1:8765",)
    assert scope.post_urls == ("http://127.0.0.1:8765/hooks/urgent",)
    assert scope.write_roots == (settings.output_dir, project_dir / "reports")


def test_use_scope_reaches_worker_threads_and_unwinds(sandbox: ToolScope) -> None:
    seen: list[ToolScope] = []
    with use_scope(sandbox):
        assert current_scope() is sandbox
        worker = threading.Thread(target=lambda: seen.append(current_scope()))  # no copied context
        worker.start()
        worker.join()
    assert seen == [sandbox]
    assert current_scope() != sandbox  # the default scope again


def test_default_scope_reads_data_and_writes_output(project_dir: Path) -> None:
    scope = current_scope()
    settings = load_settings()
    assert scope.read_roots == (project_dir / "data",)
    assert scope.write_roots == (settings.output_dir,)
    assert scope.sql_urls == () and scope.http_hosts == ()


def test_two_different_scopes_are_not_guessed_from_a_bare_thread(sandbox: ToolScope) -> None:
    other = ToolScope(read_roots=(Path("/srv"),))
    errors: list[Exception] = []

    def bare() -> None:
        try:
            current_scope()
        except ToolScopeError as exc:
            errors.append(exc)

    with use_scope(sandbox), use_scope(other):
        worker = threading.Thread(target=bare)
        worker.start()
        worker.join()
    assert errors and "several crews" in str(errors[0])


def test_output_path_before_the_output_folder_exists(tmp_path: Path) -> None:
    scope = ToolScope(read_roots=(), write_roots=(tmp_path / "output",), base_dir=tmp_path)
    assert scope.write_text("output/brief.md", "x") == tmp_path / "output/brief.md"
    assert scope.write_text("notes/brief.md", "y") == tmp_path / "output/notes/brief.md"


def test_a_declared_folder_may_itself_be_a_link(tmp_path: Path) -> None:
    """The user declared the link, so what it points at is in scope (and only that)."""
    real_in, real_out = tmp_path / "real_in", tmp_path / "real_out"
    real_in.mkdir()
    real_out.mkdir()
    (real_in / "note.txt").write_text("linked", encoding="utf-8")
    (tmp_path / "inbox").symlink_to(real_in, target_is_directory=True)
    (tmp_path / "out").symlink_to(real_out, target_is_directory=True)
    scope = ToolScope(read_roots=(Path("inbox"),), write_roots=(Path("out"),), base_dir=tmp_path)
    assert scope.read_bytes("inbox/note.txt") == b"linked"
    assert scope.write_text("out/r.md", "x") == real_out / "r.md"
    with pytest.raises(ToolScopeError, match="outside"):
        scope.read_bytes(str(real_out / "r.md"))
