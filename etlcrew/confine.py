"""One confinement for every read of a source file or by a tool: what reaches a model is only ever a regular
file inside a declared folder.

Sources and tools both put file text into prompts, so the same trick (a symlink to ``/etc/passwd``, a hard link,
a fifo that blocks, a symlink loop) must be refused by both, with the same reason. A path may be read only if,
with links followed, it stays inside one of the roots; it is a regular file (not a folder, fifo, device or
socket); and it has a single name (``st_nlink == 1``: a hard link can alias any file on the same filesystem and
cannot be told apart from the original). The open itself uses ``O_NOFOLLOW | O_NONBLOCK`` and re-checks the open
descriptor, so a link or fifo swapped in after the check is still refused and never blocks.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_KINDS = ((stat.S_ISDIR, "a folder, not a file"), (stat.S_ISFIFO, "a fifo (named pipe), not a regular file"),
          (stat.S_ISCHR, "a device, not a regular file"), (stat.S_ISBLK, "a device, not a regular file"),
          (stat.S_ISSOCK, "a socket, not a regular file"))


class ReadRefused(ValueError):
    """A path that must not be read; the message is the reason, worded to follow "is " or stand alone."""


class ReadMissing(ReadRefused):
    """Nothing exists at the path (not even a link), so callers may word it as 'no such file'."""


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def resolve_inside(path: Path, roots: Sequence[Path], shown: str) -> Path:
    """The real path of ``path`` (links followed) when it exists and stays inside ``roots``; ``shown`` names
    the roots in reasons. Raises ``ReadRefused`` for a loop, a broken link or a link leading out."""
    try:
        real = Path(path).resolve(strict=True)
    except FileNotFoundError:
        if os.path.islink(path):
            raise ReadRefused("a broken symlink (its target does not exist)") from None
        raise ReadMissing("missing (no such file)") from None
    except RuntimeError:  # Python < 3.13 reports a loop this way
        raise ReadRefused("a symlink loop") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ReadRefused("a symlink loop") from None
        raise ReadRefused(f"unreadable ({exc.strerror or exc})") from None
    if not _inside(real, [Path(r).resolve() for r in roots]):
        if os.path.islink(path):
            raise ReadRefused(f"a symlink to a {'folder' if real.is_dir() else 'file'} outside {shown}")
        raise ReadRefused(f"under a symlinked folder that leads outside {shown}")
    return real


def check_regular(info: os.stat_result) -> None:
    """Refuse anything but a regular file with one name; the reason says what it is instead."""
    for test, what in _KINDS:
        if test(info.st_mode):
            raise ReadRefused(what)
    if not stat.S_ISREG(info.st_mode):
        raise ReadRefused("not a regular file")
    if info.st_nlink > 1:
        raise ReadRefused(f"a hard link (one file with {info.st_nlink} names, maybe outside the folder); "
                          f"copy the file instead of linking it")


def confined_path(path: Path, roots: Sequence[Path], shown: str) -> Path:
    """The real path of a file that may be read (inside ``roots``, regular, one name), for callers that hand
    the path on; prefer ``open_confined``, which also guards the open."""
    real = resolve_inside(path, roots, shown)
    check_regular(os.stat(real))
    return real


def open_confined(path: Path, roots: Sequence[Path], shown: str) -> BinaryIO:
    """``path`` opened for binary reading, after the checks of ``confined_path`` and again on the open file."""
    real = confined_path(path, roots, shown)
    try:
        fd = os.open(real, _OPEN_FLAGS)
    except OSError as exc:
        raise ReadRefused(f"unreadable ({exc.strerror or exc})") from None
    try:
        check_regular(os.fstat(fd))
    except ReadRefused:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")
