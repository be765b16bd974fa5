"""All console output goes through here, so ``--json`` and piped output stay clean.

Human-facing text goes to stderr through rich; stdout carries only machine output (``emit_json``) or tables
the user asked for. When stderr is not a terminal, rich writes plain text: no colours, no control codes, no
emoji. Tests call ``configure(quiet=True)`` or capture the streams; nothing here ever prompts.

Every message, table cell and JSON document is passed through ``etlcrew.redact`` first, so an API key or a
password in a URL never reaches the terminal or a log that captured it, then through ``etlcrew.printable``, so a
control character in a file name or a model's output (an ANSI escape, BEL, a newline in a table cell) is shown
as a visible escape, never sent raw. Live displays drawing on ``err_console()`` directly should do both for
their own text.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from etlcrew.printable import json_printable, one_line, printable
from etlcrew.redact import redact

if TYPE_CHECKING:  # rich costs ~60 ms to import; only pay when printing
    from collections.abc import Iterator

    from rich.console import Console
    from rich.progress import Progress

_state: dict[str, Any] = {"quiet": False, "json": False, "err": None, "out": None}


def configure(*, quiet: bool = False, json_mode: bool = False, err: Console | None = None) -> None:
    """Set the output mode for this process (``--quiet``, ``--json``); tests may hand in ``err``, a captured
    terminal, to see exactly what a user's terminal would get."""
    _state.update(quiet=quiet, json=json_mode, err=err, out=None)


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
    """Whether live displays may draw: our stderr console is a terminal, not a dumb one (asked of the console, as
    ``foreign_output`` swaps ``sys.stderr`` while a run works)."""
    return _console("err").is_terminal and os.environ.get("TERM", "") != "dumb"


def err_console() -> Console:
    """The rich console on stderr (for live displays)."""
    return _console("err")


def screen() -> Console:
    """The rich console on stdout, for an interactive screen the user drives (``review``); callers redact the
    text they draw."""
    return _console("out")


def _say(message: str, style: str = "", one_line: bool = False, soft_wrap: bool = False) -> None:
    """One message on stderr as plain ``Text``: no markup is parsed, and the style stays on this text alone (a live
    panel redrawn below it by the same ``print`` keeps its own look). ``one_line`` cuts instead of wrapping;
    ``soft_wrap`` leaves wrapping to the terminal, so a command in the text copies whole (never above a live panel:
    rich could not count the lines)."""
    from rich.text import Text

    text = Text(printable(redact(message)), style=style)
    if one_line:
        _console("err").print(text, no_wrap=True, overflow="ellipsis")
    else:
        _console("err").print(text, soft_wrap=soft_wrap)


def info(message: str) -> None:
    """A progress or status line for the human (stderr); silent with ``--quiet`` or ``--json``."""
    if not (_state["quiet"] or _state["json"]):
        _say(message)


def step(message: str) -> None:
    """An agent step (``--verbose``): like ``info``, but always one line, cut to the terminal's width."""
    if not (_state["quiet"] or _state["json"]):
        _say(message, one_line=True)


def warn(message: str) -> None:
    """A warning (stderr); shown even with ``--quiet``, but not in ``--json`` mode."""
    if not _state["json"]:
        _say(f"warning: {message}", "yellow")


def error(message: str, hint: str | None = None) -> None:
    """A user-facing error (stderr), always shown."""
    _say(f"error: {message}", "bold red", soft_wrap=True)
    if hint:
        _say(f"  hint: {hint}", soft_wrap=True)


def out(text: str = "") -> None:
    """Plain text the user asked for, on stdout."""
    sys.stdout.write(printable(redact(text)) + "\n")


def emit_json(value: Any) -> None:
    """The single JSON document of a ``--json`` command, on stdout."""
    # the text is redacted, not the value: what ``default=str`` renders is covered too; masks keep it valid JSON
    sys.stdout.write(json_printable(redact(json.dumps(value, indent=2, default=str, ensure_ascii=False))) + "\n")
    sys.stdout.flush()


def table(title: str | None, columns: list[str], rows: list[list[Any]], whole: tuple[int, ...] = (),
          optional: tuple[int, ...] = ()) -> None:
    """A table on stdout; piped, plain aligned columns without box-drawing characters (cp1252, ``awk``).

    Columns listed in ``whole`` (by index) are never cut or wrapped, e.g. run ids a user copies. With
    ``optional`` (indexes, the most wanted first), the table fits the console's width by leaving out optional
    columns, the last listed first, and every column shown is whole: at 80 columns a cut "suppor…" helps no one.
    """
    from rich.table import Table

    framed = sys.stdout.isatty()
    cells = [["" if cell is None else one_line(redact(str(cell))) for cell in row] for row in rows]
    shown = list(range(len(columns)))
    if optional:
        natural = [max([len(column), *(len(row[i]) for row in cells)]) for i, column in enumerate(columns)]
        gap = 3 if framed else 2  # "│" between padded cells, or two spaces
        width = _console("out").width
        dropping = list(reversed(optional))
        while dropping and sum(natural[i] for i in shown) + gap * (len(shown) - 1) + (2 if framed else 0) > width:
            shown.remove(dropping.pop(0))
        whole = tuple(shown)
    grid = Table(title=title, show_edge=False, header_style="bold", safe_box=True, box=_box() if framed else None,
                 pad_edge=framed)
    for index in shown:
        column = columns[index]
        if index in whole:
            width = max([len(column), *(len(row[index]) for row in cells)])
            grid.add_column(column, no_wrap=True, min_width=width)
        else:
            grid.add_column(column)
    for row in cells:
        grid.add_row(*[row[i] for i in shown])
    _console("out").print(grid)


def _box() -> Any:
    from rich import box

    return box.HEAVY_HEAD


@contextmanager
def progress(description: str, total: float | None) -> Iterator[Any]:
    """A progress bar on stderr yielding ``advance(n)``; a no-op when quiet, in JSON mode or not a terminal."""
    if _state["quiet"] or _state["json"] or not stderr_is_terminal():
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


class _ForeignStream(io.TextIOBase):
    """Stands in for stdout and stderr while a library runs: each whole line goes to ``_foreign_line``.

    Not a rich ``FileProxy`` on purpose: rich consoles unwrap those and write past a live panel, leaving a stale
    copy of it in the scrollback. Lines are gathered per thread, so concurrent batches do not splice them.
    """

    encoding = "utf-8"

    def __init__(self) -> None:
        self._pending = threading.local()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        *lines, rest = (getattr(self._pending, "text", "") + text).split("\n")
        self._pending.text = rest
        if lines:
            _foreign_lines(lines)
        return len(text)

    def finish(self) -> None:
        rest, self._pending.text = getattr(self._pending, "text", ""), ""
        if rest:
            _foreign_lines([rest])


def _foreign_lines(lines: list[str]) -> None:
    """Lines CrewAI (or a user's tool) printed at once: redacted, through our console in one piece (above a live
    panel); colour codes become styles, dropped when piped; nothing at all with ``--quiet`` or ``--json``."""
    if _state["quiet"] or _state["json"]:
        return
    from rich.text import Text

    text = Text("\n").join(_styled(redact(line)) for line in lines)
    _console("err").print(text, no_wrap=True, overflow="crop")


def _styled(line: str) -> Any:
    """A line with colour codes as styles; any other control character left (a title escape, BEL, C1) makes it
    plain text with visible escapes instead."""
    from rich.text import Text

    text = Text.from_ansi(line)
    return text if printable(text.plain) == text.plain else Text(printable(text.plain))


@contextmanager
def foreign_output() -> Iterator[None]:
    """While CrewAI runs: its prints (stdout) and stray writes to stderr come through here, so stdout keeps only
    our own output and a live panel is never drawn over."""
    _console("err"), _console("out")  # bound to the real streams before they are swapped
    stream = _ForeignStream()
    try:
        with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
            yield
    finally:
        stream.finish()
