"""A tiny terminal for display tests: replays what rich writes (text, CR, LF, cursor up, erase line) onto a grid
of lines, with a real terminal's deferred wrap, so a test sees the scrollback a user would. Not a test module."""

from __future__ import annotations

import re

CSI = re.compile(r"\x1b\[([?0-9;]*)([A-Za-z])")


def screen(output: str, width: int) -> list[str]:
    """Every line the terminal holds after ``output`` (scrollback included), trailing blanks dropped."""
    lines, row, col, pending = [""], 0, 0, False
    i = 0
    while i < len(output):
        control = CSI.match(output, i)
        if control:
            args, command = control.groups()
            if command == "A":
                row, pending = max(0, row - (int(args) if args.isdigit() else 1)), False
            elif command == "K":
                lines[row] = "" if args == "2" else lines[row][:col]
            i = control.end()
            continue
        char = output[i]
        i += 1
        if char == "\r":
            col, pending = 0, False
        elif char == "\n" or pending:
            row, col, pending = row + 1, 0, False
            lines.extend([""] * (row + 1 - len(lines)))
            if char == "\n":
                continue
        if char not in "\r\n":
            line = lines[row].ljust(col)
            lines[row] = line[:col] + char + line[col + 1:]
            pending = col == width - 1
            col += 0 if pending else 1
    while lines and not lines[-1].strip():
        lines.pop()
    return lines
