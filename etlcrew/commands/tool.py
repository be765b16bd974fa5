"""``tool NAME --args JSON``: run one tool directly, inside a crew's scope, to try it out.

It prints exactly what the model would get (tool output wrapped as data). Everything the user typed is checked
before CrewAI is imported; a tool refusing to leave the crew's scope exits 1 with the reason, not a traceback.
"""

from __future__ import annotations

import json
from typing import Any

from etlcrew import console
from etlcrew.commands.project import load_checked, pick_crew
from etlcrew.errors import EtlcrewError, UsageError
from etlcrew.settings import Settings
from etlcrew.specs.did_you_mean import suggest
from etlcrew.tools.registry import ToolInfo


def find_tool(tools: dict[str, ToolInfo], name: str) -> ToolInfo:
    """The tool called ``name``, or a usage error with a did-you-mean."""
    if name in tools:
        return tools[name]
    guess = suggest(name, set(tools))
    hint = f"did you mean '{guess}'?" if guess else f"tools are: {', '.join(sorted(tools))}"
    raise UsageError(f"no tool named '{name}'", hint)


def parse_args_json(text: str) -> dict[str, Any]:
    """``--args`` as a dict; anything but a JSON object is a usage error saying where it broke."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--args is not valid JSON: {exc.msg} at character {exc.pos}",
                         """quote it for the shell: --args '{"path": "data/inbox/0001.eml"}'""") from None
    if not isinstance(value, dict):
        raise UsageError(f"--args must be a JSON object, got {type(value).__name__}",
                         """for example: --args '{"key": "value"}'""")
    return value


def check_arguments(tool: Any, info: ToolInfo, args: dict[str, Any]) -> dict[str, Any]:
    """``args`` validated against the tool's ``args_schema``: unknown or missing names are usage errors."""
    schema = getattr(tool, "args_schema", None)
    if schema is None or not getattr(schema, "model_fields", None):
        return args
    from pydantic import ValidationError

    known = set(schema.model_fields)
    takes = f"{info.name} takes: {', '.join(schema.model_fields) or '(nothing)'}"
    for key in args:
        if key not in known:
            guess = suggest(key, known)
            raise UsageError(f"tool '{info.name}' has no argument '{key}'",
                             f"did you mean '{guess}'? ({takes})" if guess else takes)
    try:
        return schema.model_validate(args).model_dump()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "(arguments)"
            problems.append(f"missing argument '{where}'" if error["type"] == "missing"
                            else f"argument '{where}': {error['msg']}")
        raise UsageError(f"tool '{info.name}': {'; '.join(problems)}", takes) from None


def run_tool(settings: Settings, name: str, args_text: str, crew: str | None, json_mode: bool) -> int:
    """Exit 0 with the output; 2 for a wrong name or arguments; 1 when the tool refuses or fails."""
    from etlcrew.tools.data_wrapping import ToolError
    from etlcrew.tools.scope import ToolScopeError, scope_for_crew, use_scope

    project, tools = load_checked(settings)
    info = find_tool(tools, name)
    args = parse_args_json(args_text)
    crew_name = pick_crew(project, crew)
    scope = scope_for_crew(project, crew_name, settings)
    hint = (f"the tool may only reach what crew '{crew_name}' declares in {project.file_of('crews')}; "
            f"pick another crew with --crew or declare it there")

    from etlcrew.crewai_env import import_crewai
    from etlcrew.tools.registry import load_tool

    import_crewai(settings.state_dir)
    tool = load_tool(info)
    kwargs = check_arguments(tool, info, args)
    try:
        with use_scope(scope), console.foreign_output():  # keep stdout for the output alone
            output = tool.run(**kwargs)
    except ToolScopeError as exc:
        raise EtlcrewError(f"tool '{name}' refused: {exc}", hint if "declare" in str(exc) else None) from None
    except Exception as exc:  # the tool's own failure; the message is what the model would have seen
        raise EtlcrewError(f"tool '{name}' failed: {type(exc).__name__}: {exc}",
                           "run again with --debug for the traceback") from exc
    if isinstance(output, ToolError):
        if output.refused:
            raise EtlcrewError(f"tool '{name}' refused: {output.message}", hint if "declare" in output else None)
        raise EtlcrewError(f"tool '{name}' failed: {output.message}")
    if json_mode:
        console.emit_json({"tool": name, "crew": crew_name, "arguments": kwargs, "output": output})
    else:
        console.out(str(output))
    return 0
