"""``new crew NAME``: add a crew with its own three agents, its tasks, a schema, a sample source and a report.

The YAML is appended as text, so the user's comments and layout stay as they are; the crew gets its own agents
(``NAME_researcher``...) so editing them never changes another crew. The project is validated before (a broken
config is not made worse) and after; if the result does not validate, every file is put back.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from etlcrew import console
from etlcrew.commands.project import crew_inputs, load_checked
from etlcrew.errors import UsageError
from etlcrew.invocation import command, program
from etlcrew.settings import Settings

AGENTS = Template('''
# Added by `${prog} new crew ${name}`: the roles of crew ${name}, edit them freely.
${name}_researcher:
  role: Researcher
  goal: Gather the facts each note needs for {purpose}.
  backstory: >
    You read raw notes carefully and write down only what is in them.
  tools: [read_file, list_files]
  max_iter: 3

${name}_transformer:
  role: Transformer
  goal: Turn the researcher's findings into records that match the output schema exactly.
  backstory: >
    You are a meticulous data engineer. You never invent values.
  max_iter: 3

${name}_publisher:
  role: Publisher
  goal: Write a short digest for {audience} and flag the records that need action.
  backstory: >
    You summarise a run in a few sentences from the facts you are given and point at what needs attention.
  max_iter: 3
''')

TASKS = Template('''
# Added by `${prog} new crew ${name}`: the ETL phases of crew ${name}.
${name}_extract:
  phase: extract
  description: >
    Read these notes. For each item_id, note the facts needed for {purpose}.
    Items:
    {items}
  expected_output: One short finding per item_id.
  agent: ${name}_researcher

${name}_transform:
  phase: transform
  description: >
    Using the findings, produce exactly one record per item_id with these fields:
    {schema}
  expected_output: A JSON object with a "records" list, one record per item_id.
  agent: ${name}_transformer
  context: [${name}_extract]

${name}_load:
  phase: load
  description: >
    Write a short digest of this run for {audience} from the facts (computed by code from every record);
    list the item_ids that need action. Use only the numbers and item ids of the facts.
  expected_output: A JSON object with "digest" and "action_item_ids".
  agent: ${name}_publisher
  context: [${name}_transform]
''')

CREW = Template('''
# Added by `${prog} new crew ${name}`: reads data/${name}/, loads output/${name}.duckdb, writes a report.
${name}:
  description: Summarise and prioritise the notes in data/${name}.
  agents: [${name}_researcher, ${name}_transformer, ${name}_publisher]
  tasks: [${name}_extract, ${name}_transform, ${name}_load]
  process: sequential
  inputs:
    purpose: a one-line summary and a priority for each note
    audience: the team
  batch_size: 5
  sources:
    - name: notes
      type: files
      path: data/${name}
      patterns: ["*.txt", "*.md"]
      max_bytes: 20000
      truncate: true
  schema:
    table: ${name}
    primary_key: item_id
    fields:
      title: {type: string, max: 80, description: a short title}
      summary: {type: string, max: 200, description: one line}
      priority: {type: enum, values: [low, medium, high]}
  targets:
    - type: duckdb
    - type: report
''')

SAMPLES = {
    "note-1.txt": "Subject: Printer on floor 2 jams every morning\n\nThe shared printer jams on the first job of "
                  "the day; we lose about 20 minutes each time. Could someone look at it this week?\n",
    "note-2.md": "# Team lunch\n\nThe team lunch moves from Thursday to Friday at 12:30, same place.\n",
}


def _append(path: Path, text: str) -> None:
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    separator = "" if not current or current.endswith("\n") else "\n"
    path.write_text(current + separator + text, encoding="utf-8")


def _check_free(name: str, settings: Settings) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise UsageError(f"'{name}' is not a valid crew name",
                         "use letters, digits and _ (no leading digit), e.g. weekly_notes")
    data_dir = settings.project_dir / "data" / name
    if data_dir.exists() and not data_dir.is_dir():
        raise UsageError(f"{data_dir} exists and is not a folder", "pick another name or move the file")
    # a broken configuration is reported as it is, before anything is added
    project, _ = load_checked(settings, needs_state=False)
    taken = [f"crew '{name}'"] if name in project.crews else []
    taken += [f"agent '{a}'" for a in (f"{name}_{r}" for r in ("researcher", "transformer", "publisher"))
              if a in project.agents]
    taken += [f"task '{t}'" for t in (f"{name}_{p}" for p in ("extract", "transform", "load")) if t in project.tasks]
    if taken:
        raise UsageError(f"{', '.join(taken)} already exist(s) in {settings.config_dir}",
                         "pick another name, or edit the existing crew")


def new_crew(settings: Settings, name: str) -> int:
    """Append the crew to the three YAML files, add sample data, validate; undo everything if it fails."""
    _check_free(name, settings)
    config = settings.config_dir
    files = {config / "agents.yaml": AGENTS, config / "tasks.yaml": TASKS, config / "crews.yaml": CREW}
    before = {path: path.read_text(encoding="utf-8") if path.exists() else None for path in files}
    data_dir = settings.project_dir / "data" / name
    samples = [] if data_dir.is_dir() and any(data_dir.iterdir()) else [data_dir / n for n in SAMPLES]
    made_dir = not data_dir.exists()
    try:
        for path, template in files.items():
            _append(path, template.substitute(name=name, prog=program()))
        data_dir.mkdir(parents=True, exist_ok=True)
        for sample in samples:
            sample.write_text(SAMPLES[sample.name], encoding="utf-8")
        project, _ = load_checked(settings, needs_state=False)
        crew_inputs(project, name, {})
    except BaseException:
        for path, text in before.items():
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text, encoding="utf-8")
        for sample in samples:
            sample.unlink(missing_ok=True)
        if made_dir and data_dir.is_dir() and not any(data_dir.iterdir()):
            data_dir.rmdir()
        raise
    console.out(f"added crew '{name}' to {config.name}/agents.yaml, tasks.yaml and crews.yaml: agents "
                f"{name}_researcher, {name}_transformer, {name}_publisher; table '{name}'; report target")
    source = f"data/{name}/" + (f" ({len(samples)} sample notes written)" if samples else " (existing files)")
    console.out(f"source: {source}")
    console.out(f"valid. next: {command('run', name)}")
    return 0
