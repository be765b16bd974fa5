"""Which configuration decides a crew's records: the hash the incremental skip compares, apart from the runner so
the plan (``run --dry-run``) and ``resume`` compute it without importing the run.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from etlcrew.pipeline.options import RunOptions
    from etlcrew.specs.project import ProjectSpec

# crew keys that change how a run goes, not what its records are: changing them re-processes nothing
NOT_AFFECTING_RECORDS = {"default", "concurrency", "description", "retry", "budget", "land_interval_s", "eval",
                         "actions"}
RESOLVED = {"process", "batch_size"}  # hashed as the run plan resolved them (YAML or flag), not as the YAML says


def relevant_config_hash(project: ProjectSpec, plan: RunOptions, models: list[str]) -> str:
    """What decides a record besides the item's content: the crew, its agents and tasks, models, process and
    batch size (``plan`` is resolved: ``RunOptions.resolved_for``).

    An item whose content hash and this hash are unchanged since it was loaded is skipped on the next run.
    """
    spec = project.crews[plan.crew]
    parts = {
        "crew": spec.model_dump(mode="json", by_alias=True, exclude=NOT_AFFECTING_RECORDS | RESOLVED),
        "agents": {a: project.agents[a].model_dump(mode="json") for a in spec.agents if a in project.agents},
        # the load task writes the run's digest after the records are made (``pipeline.outcome``): not hashed
        "tasks": {t: project.tasks[t].model_dump(mode="json") for t in spec.tasks if project.phase_of(t) != "load"},
        "models": models, "process": plan.process, "batch_size": plan.batch_size,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
