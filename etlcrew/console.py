"""All console output goes through here, so ``--json`` and piped output stay clean.

Human-facing text goes to stderr through rich; stdout carries only machine output (``emit_json``) or tables
the user asked for. When stderr is not a terminal, rich writes plain text: no colours, no control codes, no
emoji. Tests call ``configure(quiet=True)`` or capture the streams; nothing here ever prompts.

Every message, table cell and JSON document is passed through ``etlcrew.redact`` first, so an API key or a
password in a URL never reaches the terminal or a log that captured it. Live displays drawing on
``err_console()`` directly should redact their own text.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from etlcrew.redact import redact

if TYPE_CHECKING:  # rich costs ~60 ms to import; only pay when printing
    from collections.abc import Iterator

    from rich.console import Console
    from rich.progress import Progress

_state: dict[str, Any] = {"quiet": False, "json": False, "err": None, "out": None}


def configure(*, quiet: bool = False, json_mode: bool = False) -> None:
    """Set the output mode for this process (``--quiet``, ``--json``)."""
    _state.update(quiet=quiet, json=json_mode, err=None, out=None)


def _console(stream: str) -> Console:
    if _state[stream] is None:
        from rich.console import Console

        target = sys.stderr if stream == "err" else sys.stdout
        interactive = target.isatty()
        _state[stream] = Console(
            file=target,
            highlight=False,
            emoji=False,
            force_terminal=None if interactive else False,
            no_color=not interactive,
            width=None if interactive else int(os.environ.get("COLUMNS", "") or 160),  # piped: COLUMNS or 160
        )
    return _state[stream]


def is_quiet() -> bool:
    """True with ``--quiet`` or ``--json``: no progress output at all."""
    return bool(_state["quiet"] or _state["json"])


def stderr_is_terminal() -> bool:
    """Whether live displays may draw (a TTY that is not a dumb terminal)."""
    import os

    return sys.stderr.isatty() and os.environ.get("TERM", "") != "dumb"


def err_console() -> Console:
    """The rich console on stderr (for live displays)."""
    return _console("err")


def info(message: str) -> None:
    """A progress or status line for the human (stderr); silent with ``--quiet`` or ``--json``."""
    if not (_state["quiet"] or _state["json"]):
        _console("err").print(redact(message), markup=False)


def warn(message: str) -> None:
    """A warning (stderr); shown even with ``--quiet``, but not in ``--json`` mode."""
    if not _state["json"]:
        _console("err").print(f"warning: {redact(message)}", markup=False, style="yellow")


def error(message: str, hint: str | None = None) -> None:
    """A user-facing error (stderr), always shown."""
    console = _console("err")
    console.print(f"error: {redact(message)}", markup=False, style="bold red")
    if hint:
        console.print(f"  hint: {redact(hint)}", markup=False)


def out(text: str = "") -> None:
    """Plain text the user asked for, on stdout."""
    sys.stdout.write(redact(text) + "\n")


def emit_json(value: Any) -> None:
    """The single JSON document of a ``--json`` command, on stdout."""
    # the text is redacted, not the value: what ``default=str`` renders is covered too; masks keep it valid JSON
    sys.stdout.write(redact(json.dumps(value, indent=2, default=str, ensure_ascii=False)) + "\n")
    sys.stdout.flush()


def table(title: str | None, columns: list[str], rows: list[list[Any]], whole: tuple[int, ...] = ()) -> None:
    """A table on stdout; piped, plain aligned columns without box-drawing characters (cp1252, ``awk``).

    Columns listed in ``whole`` (by index) are never cut or wrapped, e.g. run ids a user copies.
    """
    from rich.table import Table

    framed = sys.stdout.isatty()
    grid = Table(title=title, show_edge=False, header_style="bold", safe_box=True, box=_box() if framed else None)
    for index, column in enumerate(columns):
        if index in whole:
            width = max([len(column), *(len(str(row[index])) for row in rows)])
            grid.add_column(column, no_wrap=True, min_width=width)
        else:
            grid.add_column(column)
    for row in rows:
        grid.add_row(*["" if cell is None else redact(str(cell)) for cell in row])
    _console("out").print(grid)


def _box() -> Any:
    from rich import box

    return box.HEAVY_HEAD


@contextmanager
def progress(description: str, total: float | None) -> Iterator[Any]:
    """A progress bar on stderr yielding ``advance(n)``; a no-op when quiet, in JSON mode or not a terminal."""
    if _state["quiet"] or _state["json"] or not sys.stderr.isatty():
        info(description)
        yield lambda n: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    bar: Progress
    with Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), console=_console("err"), transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
