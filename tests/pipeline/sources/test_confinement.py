"""Hostile entries in a source folder: the files source and the read_file/list_files tools refuse each one for the
same reason (``etlcrew.confine``), the source as a quarantine row, never silently and never by reading it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from etlcrew.tools.list_files import list_matching
from etlcrew.tools.scope import ToolScope, ToolScopeError

from etlcrew.confine import ReadRefused, open_confined
from etlcrew.pipeline.sources import iter_items
from etlcrew.specs.datapath import FilesSource

SECRET = "root:x:0:0:planted secret\n"


def _outside_link(inbox: Path, name: str) -> None:
    (inbox / name).symlink_to(inbox.parent / "secret.txt")


def _folder_link(inbox: Path, name: str) -> None:
    (inbox / "linked").symlink_to(inbox.parent, target_is_directory=True)
    (inbox / name).symlink_to(inbox / "linked" / "secret.txt")


def _loop(inbox: Path, name: str) -> None:
    (inbox / name).symlink_to(inbox / "loop-b.txt")
    (inbox / "loop-b.txt").symlink_to(inbox / name)


HOSTILE: list[tuple[str, Callable[[Path, str], None], str]] = [
    ("symlink-out", _outside_link, "a symlink to a file outside data/inbox"),
    ("symlink-passwd", lambda d, n: (d / n).symlink_to("/etc/passwd"), "a symlink to a file outside data/inbox"),
    ("via-linked-folder", _folder_link, "a symlink to a file outside data/inbox"),
    ("symlink-loop", _loop, "a symlink loop"),
    ("broken-link", lambda d, n: (d / n).symlink_to(d / "gone.txt"), "a broken symlink (its target does not exist)"),
    ("fifo", lambda d, n: os.mkfifo(d / n), "a fifo (named pipe), not a regular file"),
    ("hard-link", lambda d, n: os.link(d.parent / "secret.txt", d / n), "a hard link (one file with 2 names"),
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "data" / "inbox").mkdir(parents=True)
    (tmp_path / "data" / "secret.txt").write_text(SECRET, encoding="utf-8")
    (tmp_path / "data" / "inbox" / "ok.txt").write_text("a fine note\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("case", "make", "reason"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_source_and_tools_refuse_the_same_entry_for_the_same_reason(
        project: Path, case: str, make: Callable[[Path, str], None], reason: str) -> None:
    inbox = project / "data" / "inbox"
    name = f"{case}.txt"
    make(inbox, name)
    spec = FilesSource(type="files", name="inbox", path="data/inbox", patterns=["*.txt"])
    found = {i.item_id: i for i in iter_items(spec, project)}
    bad = found[f"inbox:{name}"]
    assert (bad.quarantine_reason or "").startswith(f"not read: {name} is {reason}"), bad.quarantine_reason
    assert SECRET.strip() not in repr(found) and bad.text == "" and not bad.raw
    assert found["inbox:ok.txt"].text == "a fine note\n"
    scope = ToolScope(read_roots=(Path("data/inbox"),), base_dir=project)
    with pytest.raises(ToolScopeError, match=f"^path '{name}' is {reason.replace('(', '.').replace(')', '.')}"):
        scope.read_bytes(name)
    assert list_matching(scope, "data/inbox", "*.txt") == ["data/inbox/ok.txt"]


def test_a_link_that_stays_inside_is_read_by_both(project: Path) -> None:
    inbox = project / "data" / "inbox"
    (inbox / "alias.txt").symlink_to(inbox / "ok.txt")
    spec = FilesSource(type="files", name="inbox", path="data/inbox")
    found = {i.item_id: i for i in iter_items(spec, project)}
    assert found["inbox:alias.txt"].text == found["inbox:ok.txt"].text == "a fine note\n"
    assert ToolScope(read_roots=(Path("data/inbox"),), base_dir=project).read_bytes("alias.txt") == b"a fine note\n"


def test_a_device_is_refused_even_inside_a_declared_root() -> None:
    with pytest.raises(ReadRefused, match="a device, not a regular file"):
        open_confined(Path("/dev/null"), (Path("/dev"),), "/dev")


def test_a_row_file_reads_through_the_confined_handle(project: Path) -> None:
    (project / "data" / "inbox" / "rows.csv").write_bytes("id;name\n1;Zoë\n".encode("cp1252"))
    spec = FilesSource(type="files", name="inbox", path="data/inbox", patterns=["*.csv"], encoding="cp1252")
    [row] = list(iter_items(spec, project))
    assert row.text == "id: 1\nname: Zoë" and row.metadata["encoding"] == "cp1252"


def test_reference_lookup_reads_tables_through_the_same_confinement(project: Path) -> None:
    from etlcrew.tools.reference_lookup import lookup

    ref = project / "data" / "reference"
    ref.mkdir()
    (ref / "products.csv").write_text("product,price\nHub,99\nPlug,19\n", encoding="utf-8")
    (ref / "passwd.csv").symlink_to("/etc/passwd")
    os.mkfifo(ref / "pipe.csv")
    assert lookup("products", "product", "hub", ref) == [{"product": "Hub", "price": "99"}]
    with pytest.raises(ValueError, match="'passwd' is not read: it is a symlink to a file outside data/reference"):
        lookup("passwd", "root", "x", ref)
    with pytest.raises(ValueError, match="'pipe' is not read: it is a fifo"):
        lookup("pipe", "a", "x", ref)  # refused before open: it would block
