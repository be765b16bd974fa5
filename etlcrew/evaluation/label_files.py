"""A crew's labels file: where it is, which items it labels, and its rows checked against them (no model call).

Apart from ``compare`` (which runs models) so that ``validate``, the review examples and the benches read labels
without importing the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from etlcrew.errors import UsageError

if TYPE_CHECKING:
    from etlcrew.evaluation.labels import LabelSet
    from etlcrew.settings import Settings
    from etlcrew.specs.project import ProjectSpec


def labels_path(settings: Settings, project: ProjectSpec, crew: str, given: str | None) -> tuple[Path, str]:
    """The labels file (``--labels`` or the crew's ``eval: {labels: ...}``) and how to show it."""
    spec = project.crews[crew]
    shown = given or (spec.eval.labels if spec.eval else None)
    if not shown:
        raise UsageError(f"crew '{crew}' has no labels to score against",
                         hint=f"add 'eval: {{labels: data/{crew}_expected.csv}}' to the crew in "
                              f"{project.file_of('crews')}, or pass --labels FILE")
    path = Path(shown)
    return (path if path.is_absolute() else settings.project_dir / path), shown


def labelled_project(settings: Settings, project: ProjectSpec, crew: str, given: str | None) -> ProjectSpec:
    """The project whose crew reads the items the labels file scores (``evaluation.items``: a ``labels.csv``
    beside its own items moves the crew's files source there)."""
    from etlcrew.evaluation.items import items_folder, reading_from

    path, shown = labels_path(settings, project, crew, given)
    return reading_from(project, crew, items_folder(project, crew, path, shown, settings.project_dir))


def read_crew_labels(settings: Settings, project: ProjectSpec, crew: str, given: str | None) -> LabelSet:
    """The crew's labels, checked against its schema and the ids its sources give (no model is called)."""
    from etlcrew.evaluation.labels import read_labels
    from etlcrew.pipeline.sources import iter_items

    if project.crews[crew].output_schema is None or not project.crews[crew].sources:
        raise UsageError(f"crew '{crew}' has no sources and schema: there are no records to score")
    path, shown = labels_path(settings, project, crew, given)
    spec = labelled_project(settings, project, crew, given).crews[crew]
    ids: list[str] = []
    for source in spec.sources:
        listed = _listed_ids(source, settings.project_dir)
        ids += listed if listed is not None else [item.item_id for item in iter_items(source, settings.project_dir)]
    assert spec.output_schema is not None
    return read_labels(path, shown, spec.output_schema, ids)


ROW_FILES = (".csv", ".json", ".jsonl")  # one item per row: their ids need the file read


def _listed_ids(source: Any, project_dir: Path) -> list[str] | None:
    """The ids of a files source whose items are whole files, from a folder listing (no file is parsed, so
    ``validate`` stays fast); ``None`` when the source must be read to know its ids."""
    from etlcrew.pipeline.sources.files import folder_of, matching_files
    from etlcrew.specs.datapath import FilesSource

    if not isinstance(source, FilesSource):
        return None
    root = folder_of(source, project_dir)
    paths = matching_files(source, root)
    if any(p.suffix.lower() in ROW_FILES for p in paths):
        return None
    return [f"{source.name}:{p.relative_to(root).as_posix()}" for p in paths]
