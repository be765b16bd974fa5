"""Build a CrewAI ``Task`` from a validated ``TaskSpec`` with its placeholders already filled.

We fill placeholders ourselves (see ``etlcrew.specs.placeholders``) and never pass ``inputs`` to CrewAI, so
source text containing braces cannot break a kickoff. ``output_file`` is relative to the project directory and
written by us (``OutputWriter``, the task's callback), not by CrewAI: CrewAI strips the leading ``/`` of an absolute
path, which put the file under ``<cwd>/<project path>/``, and a relative one would follow the current directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crewai import Task
from pydantic import BaseModel

from etlcrew.specs.models import TaskSpec
from etlcrew.specs.placeholders import fill


def build_task(name: str, spec: TaskSpec, *, agent: Any | None, context: list[Task], tools: list[Any],
               inputs: Mapping[str, object], project_dir: Path,
               output_pydantic: type[BaseModel] | None = None) -> Task:
    """One task; ``output_pydantic`` asks the model for schema-constrained output (natively, see below)."""
    options: dict[str, Any] = dict(spec.crewai_options)
    if spec.output_file:
        options["callback"] = OutputWriter((project_dir / fill(spec.output_file, inputs)).resolve())
    if context:
        options["context"] = context
    return Task(
        name=name,
        description=fill(spec.description, inputs).strip(),
        expected_output=fill(spec.expected_output, inputs).strip(),
        agent=agent,
        tools=tools,
        async_execution=spec.async_execution,
        human_input=spec.human_input,
        markdown=spec.markdown,
        output_pydantic=output_pydantic,
        # native structured output: the schema travels as response_format (a grammar on llama.cpp) instead of
        # being pretty-printed into the prompt, which cost ~600 prompt tokens per call on the default crew
        response_model=output_pydantic,
        **options,
    )


class OutputWriter:
    """Writes a task's output to ``path`` when the task finishes, as CrewAI would (its JSON when it has one, else
    the raw text); ``path`` is what the run lists among its outputs."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, output: Any) -> None:
        import json

        if output.json_dict:
            content = json.dumps(output.json_dict, ensure_ascii=False, indent=2)
        elif output.pydantic is not None:
            content = output.pydantic.model_dump_json()
        else:
            content = str(output.raw)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(content, encoding="utf-8")
