"""The run's Markdown report: the run's digest and the items that need action first (``pipeline.outcome``), then
the counts the code computed and breakdowns by enum field.

Numbers come from the records, never from the model, and everything is sorted, so two runs over the same
records give the same report apart from the run id and the time. A chart (``pipeline.chart``) is written next
to it as ``<report stem>.svg``. Both texts are redacted (``etlcrew.redact``): model output may quote a secret.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etlcrew.pipeline.facts import breakdowns
from etlcrew.pipeline.records import QuarantineRow
from etlcrew.pipeline.review import ReviewRow
from etlcrew.printable import one_line, printable
from etlcrew.redact import redact
from etlcrew.settings import Settings
from etlcrew.specs.datapath import ReportTarget, SchemaSpec

if TYPE_CHECKING:
    from etlcrew.pipeline.outcome import RunOutcome

STANDARD_COUNTS = ("extracted", "loaded", "review", "quarantined", "skipped")


def report_path(target: ReportTarget | None, crew: str, settings: Settings) -> Path:
    """``output/<crew>-report.md`` unless the target names a path (relative to the project directory)."""
    if target and target.path:
        path = Path(target.path)
        return path if path.is_absolute() else settings.project_dir / path
    return settings.output_dir / f"{crew}-report.md"


def _cell(value: Any, limit: int = 200) -> str:
    text = "" if value is None else str(value)
    text = one_line(" ".join(text.split())).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table(header: tuple[str, str], rows: list[tuple[Any, Any]]) -> list[str]:
    return [f"| {header[0]} | {header[1]} |", "| --- | ---: |", *(f"| {_cell(a)} | {_cell(b)} |" for a, b in rows)]


def _calls_table(calls_by_phase: dict[str, dict[str, int]]) -> list[str]:
    lines = ["| phase | calls | failed | prompt tokens | completion tokens |", "| --- | ---: | ---: | ---: | ---: |"]
    for phase, sums in calls_by_phase.items():
        lines.append(f"| {_cell(phase)} | {sums.get('calls', 0)} | {sums.get('failed_calls', 0)} | "
                     f"{sums.get('prompt_tokens', 0)} | {sums.get('completion_tokens', 0)} |")
    return lines


def _outcome_lines(digest: str | None, outcome: RunOutcome | None) -> list[str]:
    """The digest, who wrote it, and the items that need action (held ones marked): what a person reads first."""
    shown = printable(" ".join(digest.split())) if digest and digest.strip() else "_No digest was produced._"
    lines = ["## Digest", "", shown]  # one paragraph: an item id with a newline in it cannot split it
    if outcome is None:
        return lines
    if outcome.note:
        lines += ["", f"_{_cell(outcome.note[:1].upper() + outcome.note[1:], 400)}._"]
    lines += ["", f"## Needs action ({len(outcome.actions)})", ""]
    if not outcome.actions:
        return [*lines, "_No item needs action._"]
    lines += ["| item | record |", "| --- | --- |"]
    return lines + [f"| `{_cell(a.item_id)}`{' (held for review)' if a.held else ''} | {_cell(a.about)} |"
                    for a in outcome.actions]


def render_report(crew: str, run_id: str, counts: dict[str, int], records: list[dict[str, Any]],
                  schema: SchemaSpec, digest: str | None, quarantined: list[QuarantineRow],
                  generated_at: dt.datetime | None = None, *, chart: str | None = None,
                  calls_by_phase: dict[str, dict[str, int]] | None = None,
                  review: list[ReviewRow] | None = None, outcome: RunOutcome | None = None) -> str:
    """The report's Markdown text (see ``write_report``); ``chart`` is the SVG's file name, linked when given."""
    when = (generated_at or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat()
    lines = [f"# {crew}: run report", "", f"- Run: `{run_id}`", f"- Generated: {when}", f"- Table: `{schema.table}`",
             "", *_outcome_lines(digest, outcome), "", "## Counts", ""]
    names = [k for k in STANDARD_COUNTS] + sorted(k for k in counts if k not in STANDARD_COUNTS)
    lines += _table(("", "items"), [(k, counts.get(k, 0)) for k in names])
    for field, rows in breakdowns(records, schema).items():
        lines += ["", f"## By {field}", ""]
        lines += _table((field, "records"), rows)
    if calls_by_phase:
        lines += ["", "## Model calls by phase", "", *_calls_table(calls_by_phase)]
    if chart:
        lines += ["", "## Chart", "", f"![chart]({chart})"]
    if review:
        lines += ["", f"## Held for review ({len(review)})", "", "| item | reason |", "| --- | --- |"]
        lines += [f"| `{_cell(r.item_id)}` | {_cell(r.reason)} |" for r in sorted(review, key=lambda r: r.item_id)]
    lines += ["", f"## Quarantined ({len(quarantined)})", ""]
    if quarantined:
        lines += ["| item | source | reason |", "| --- | --- | --- |"]
        lines += [f"| `{_cell(q.item_id)}` | {_cell(q.source)} | {_cell(q.reason)} |"
                  for q in sorted(quarantined, key=lambda q: q.item_id)]
    else:
        lines.append("_Nothing was quarantined._")
    return redact("\n".join(lines) + "\n")


def write_report(path: Path | str, crew: str, run_id: str, counts: dict[str, int], records: list[dict[str, Any]],
                 schema: SchemaSpec, digest: str | None, quarantined: list[QuarantineRow],
                 generated_at: dt.datetime | None = None,
                 calls_by_phase: dict[str, dict[str, int]] | None = None,
                 review: list[ReviewRow] | None = None, outcome: RunOutcome | None = None) -> Path:
    """Write the Markdown report and its chart ``<stem>.svg`` atomically (a reader never sees half a file).

    ``calls_by_phase`` (phase -> calls, failed_calls, prompt_tokens, completion_tokens, e.g. from
    ``Ledger.calls_by_phase``) adds calls and tokens per phase to both. Returns the report's path.
    """
    from etlcrew.pipeline.chart import render_chart

    path = Path(path)
    svg = render_chart(f"{crew}: run {run_id}", breakdowns(records, schema), calls_by_phase)
    chart = path.with_suffix(".svg")
    if svg is not None:
        _write_atomic(chart, svg)
    _write_atomic(path, render_report(crew, run_id, counts, records, schema, digest, quarantined, generated_at,
                                      chart=chart.name if svg is not None else None,
                                      calls_by_phase=calls_by_phase, review=review, outcome=outcome))
    return path


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
