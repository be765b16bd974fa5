"""``run --dry-run``: what a run would do and cost, before it spends anything (``pipeline.plan``).

No model call, no ledger row (no ledger file is created), no CrewAI import. ``--json`` prints the plan as one
object (``Plan.as_dict``).
"""

from __future__ import annotations

from typing import Any

from etlcrew import console
from etlcrew.commands.project import crew_inputs, load_checked, parse_inputs, pick_crew
from etlcrew.errors import EXIT_OK
from etlcrew.invocation import command
from etlcrew.settings import Settings


def dry_run(settings: Settings, *, crew: str | None, input_pairs: tuple[str, ...], process: str | None,
            model: str | None, base_url: str | None, batch_size: int | None, concurrency: int | None,
            full_refresh: bool, json_mode: bool) -> int:
    """Print the plan of ``run`` with the same arguments."""
    from etlcrew.pipeline.options import RunOptions
    from etlcrew.pipeline.plan import plan_for

    project, _ = load_checked(settings)
    name = pick_crew(project, crew)
    inputs = crew_inputs(project, name, parse_inputs(input_pairs))
    options = RunOptions(crew=name, inputs=inputs, process=process, model=model, base_url=base_url,
                         batch_size=batch_size, concurrency=concurrency, full_refresh=full_refresh)
    plan = plan_for(settings, project, options).as_dict()
    if json_mode:
        console.emit_json(plan)
    else:
        for line in plan_lines(plan):
            console.out(line)
        console.info(f"nothing was run; to run it: {command('run', name)}")
    return EXIT_OK


def plan_lines(plan: dict[str, Any]) -> list[str]:
    """The human plan: items, batches, calls, tokens, seconds, cost."""
    from etlcrew.model_runtime.usage import PRICE_HINT

    lines = [f"plan for crew '{plan['crew']}' on {plan['model']} ({plan['process']}"
             + (f", batches of {plan['batch_size']}" if plan["batch_size"] else "")
             + (f", {plan['items_per_call']} items per call" if plan["items_per_call"] else "")
             + (f", {plan['concurrency']} at once)" if plan["batch_size"] else ")")]
    items = plan["items"]
    if items:
        lines.append(f"  items: {items['new']} new, {items['changed']} changed, {items['unchanged']} unchanged "
                     f"(skipped), {items['unreadable']} unreadable: {items['to_process']} to process in "
                     f"{plan['batches']} batches")
    calls = plan["calls"]
    phases = ", ".join(f"{phase} {n}" for phase, n in calls.items() if phase != "total")
    lines.append(f"  model calls: {'' if plan['exact'] else 'at least '}{calls['total']}"
                 + (f" ({phases})" if phases else ""))
    lines.append(f"  tokens: ~{plan['prompt_tokens']:,} prompt + ~{plan['completion_tokens']:,} completion "
                 f"(from {'the last runs' if plan['tokens_from'] == 'past runs' else 'the prompt it would send'})")
    seconds = plan["seconds"]
    source = {"past runs": "its last runs", "catalogue": "the model catalogue"}.get(plan["seconds_from"], "")
    lines.append(f"  time on the model: ~{seconds:,.0f} s (from {source})" if seconds is not None
                 else "  time on the model: unknown (no past run on this model)")
    lines.append(f"  cost: ${plan['cost_usd']:.4f} (config/prices.yaml)" if plan["cost_usd"] is not None
                 else f"  cost: unknown: {plan['model']} has no price ({PRICE_HINT})")
    return lines
