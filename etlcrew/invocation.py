"""How this process was started, so every command and install hint we print is one the user can type as is.

``etlcrew ...`` when started as the console script (``etlcrew``, ``run_crew``), ``python main.py ...`` when started
from a checkout's ``main.py``; anything else (a test, a notebook calling ``cli.main``) gets what fits the install:
``python main.py`` in a checkout, ``etlcrew`` for an installed wheel. Install hints follow the install alone: an
editable checkout needs ``pip install -e ".[x]"``, an installed package ``pip install "etlcrew[x]"``.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

CHECKOUT_COMMAND = "python main.py"
INSTALLED_COMMAND = "etlcrew"
CONSOLE_SCRIPTS = ("etlcrew", "etlcrew.exe", "run_crew", "run_crew.exe")


@cache
def from_checkout() -> bool:
    """True when the package runs from a source checkout (``pyproject.toml`` and ``main.py`` beside it)."""
    root = Path(__file__).resolve().parent.parent
    return (root / "pyproject.toml").is_file() and (root / "main.py").is_file()


def program() -> str:
    """``etlcrew`` or ``python main.py``: the command the user started, as they would type it again."""
    started = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    if started in CONSOLE_SCRIPTS:
        return INSTALLED_COMMAND
    if started == "main.py":
        return CHECKOUT_COMMAND
    return CHECKOUT_COMMAND if from_checkout() else INSTALLED_COMMAND


def command(*args: str) -> str:
    """A full command line to suggest: ``command("resume", run_id)`` -> ``etlcrew resume 01J...``."""
    return " ".join((program(), *args))


def install_hint(extra: str) -> str:
    """The pip command that adds the optional dependency group ``extra`` to this install."""
    return f'pip install -e ".[{extra}]"' if from_checkout() else f'pip install "etlcrew[{extra}]"'
