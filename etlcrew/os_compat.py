"""The few operating-system calls that differ between POSIX and Windows, behind one portable function each.

Everything else in etlcrew sticks to calls both have (the crew lock is ``filelock``'s); tests/etlcrew/
test_portable.py keeps POSIX-only calls out of the rest of the package.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists. On Windows ``os.kill(pid, 0)`` would terminate it, so it asks the kernel
    for the process's exit code instead (``STILL_ACTIVE`` while it runs)."""
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def _windows_pid_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() == 5  # ERROR_ACCESS_DENIED: it exists
    try:
        code = ctypes.c_ulong()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


@contextlib.contextmanager
def key_reader() -> Iterator[Callable[[], str]]:
    """Single keys without Enter, for the terminal review; the terminal is restored on the way out. POSIX: cbreak
    (Ctrl-C still interrupts); Windows: the console's own key reads (``msvcrt``), Enter read as a newline."""
    if sys.platform == "win32":
        import msvcrt

        yield lambda: "\n" if (key := msvcrt.getwch()) == "\r" else key  # type: ignore[attr-defined]
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield lambda: sys.stdin.read(1)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def typed_line() -> str:
    """One line typed with echo while ``key_reader`` holds the terminal (its usual mode for the while)."""
    if sys.platform == "win32":
        return sys.stdin.readline().rstrip("\r\n")
    import termios

    fd = sys.stdin.fileno()
    cbreak = termios.tcgetattr(fd)
    cooked = list(cbreak)
    cooked[3] |= termios.ICANON | termios.ECHO
    termios.tcsetattr(fd, termios.TCSADRAIN, cooked)
    try:
        return sys.stdin.readline().rstrip("\r\n")
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, cbreak)
