"""Every error a user can see, with the exit code it maps to.

One tree keeps messages and exit codes consistent across commands::

    EtlcrewError                 exit 1   (a run failed; it can be resumed)
    ├── UsageError               exit 2   (bad flag or argument)
    ├── ConfigError              exit 2   (config/*.yaml or settings are wrong; carries every problem found)
    ├── ModelError               exit 1   (a model could not be reached, fetched or started)
    │   └── ModelSetupError      exit 2   (a provider key or model name is missing: fix the setup)
    ├── SourceError              exit 1   (a whole source failed: unreadable database, dead URL)
    ├── StateError               exit 2   (the state folder or its ledger.db cannot be used: fix the environment)
    ├── CrewBusy                 exit 4   (another run holds the crew; this one started nothing)
    └── RunInterrupted           exit 130 (Ctrl-C; the run can be resumed)
        └── RunTerminated        exit 143 (SIGTERM from kill, systemd, Docker, CI; the run can be resumed)

A run that stops on its budget is not an error: it ends with status ``stopped`` and exit 3.

The CLI prints ``str(error)`` (plus ``hint``) and never a traceback unless ``--debug``.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_STOPPED = 3  # stopped by its budget; resumable
EXIT_BUSY = 4  # another run of the same crew is running; nothing was done, try again later
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, what a shell reports for a process SIGTERM killed


class EtlcrewError(Exception):
    """Base of every expected failure; ``exit_code`` tells the CLI how to end."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(EtlcrewError):
    """A command-line argument or flag is wrong."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in one config file: where it is and how to fix it."""

    file: str
    message: str
    line: int | None = None
    entry: str | None = None
    key: str | None = None
    hint: str | None = None

    def render(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        text = f"{where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class ConfigError(EtlcrewError):
    """The configuration is invalid; carries every problem found so one run of ``validate`` shows all."""

    problems: list[ConfigProblem] = field(default_factory=list)
    exit_code = EXIT_USAGE

    def __post_init__(self) -> None:
        first = self.problems[0].render() if self.problems else "invalid configuration"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(first + more)

    def __str__(self) -> str:
        return "\n".join(p.render() for p in self.problems)


class ModelError(EtlcrewError):
    """A model could not be reached, fetched, verified or started; the run stays resumable."""


class ModelSetupError(ModelError):
    """The model setup is incomplete (missing key, unknown model name): the user must fix it."""

    exit_code = EXIT_USAGE


class SourceError(EtlcrewError):
    """A whole source could not be read (one bad item is quarantined instead)."""


class StateError(EtlcrewError):
    """The state folder (``ETLCREW_HOME``) or its ``ledger.db`` cannot be used: not a ledger, read-only."""

    exit_code = EXIT_USAGE


class CrewBusy(EtlcrewError):
    """Another run holds the crew (``ledger.crew_lock``): refused before any model call or ledger write."""

    exit_code = EXIT_BUSY


class RunInterrupted(EtlcrewError):
    """The user interrupted the run; the current step was committed."""

    exit_code = EXIT_INTERRUPTED
    word = "interrupted"


class RunTerminated(RunInterrupted):
    """SIGTERM stopped the run like Ctrl-C; the current step was committed."""

    exit_code = EXIT_TERMINATED
    word = "terminated (SIGTERM)"


_OS_FIXES = {
    errno.ENOSPC: "free space on that disk (or point ETLCREW_HOME / ETLCREW_OUTPUT_DIR elsewhere)",
    errno.EROFS: "use a writable folder (ETLCREW_HOME for state, ETLCREW_OUTPUT_DIR for outputs)",
    errno.EACCES: "make the path writable, or point ETLCREW_HOME / ETLCREW_OUTPUT_DIR elsewhere",
}


def plain_os_error(exc: BaseException) -> EtlcrewError | None:
    """A full disk, a read-only or forbidden path as one line naming the path and the fix; None for others."""
    if not isinstance(exc, OSError) or exc.errno not in _OS_FIXES:
        return None
    what = (exc.strerror or str(exc)).lower()
    where = f"{exc.filename}: " if exc.filename else ""
    return EtlcrewError(f"{where}{what}", _OS_FIXES[exc.errno])
