"""Which items a labels file scores: the crew's own, or the ones beside the labels file.

Rule: a labels file named ``labels.csv`` in a folder that is neither a source folder of the crew nor one of its
parents (``data/inbox_test/labels.csv``) labels the items in its own folder. ``eval`` and ``validate`` then read the
crew's one ``files`` source from that folder (same patterns, same source name, so item ids keep their prefix); any
other labels file labels the crew's own items. A held-out test set is a folder of items with its labels inside,
scored with ``eval --labels data/inbox_test/labels.csv`` and nothing else to configure.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from etlcrew.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from etlcrew.specs.project import ProjectSpec

BESIDE_ITEMS = "labels.csv"


def _resolved(path: str, project_dir: Path) -> Path:
    folder = Path(path).expanduser()
    return (folder if folder.is_absolute() else project_dir / folder).resolve()


def items_folder(project: ProjectSpec, crew: str, labels: Path, shown: str, project_dir: Path) -> Path | None:
    """The folder whose items ``labels`` scores instead of the crew's source folder, or ``None`` (the crew's own).

    A labels file beside items needs exactly one ``files`` source to read them with, and must not be an item."""
    from etlcrew.specs.datapath import FilesSource

    if labels.name != BESIDE_ITEMS:
        return None
    folder = labels.resolve().parent
    sources = project.crews[crew].sources
    roots = [_resolved(s.path, project_dir) for s in sources if isinstance(s, FilesSource)]
    if any(folder == root or folder in root.parents for root in roots):
        return None
    if len(sources) != 1 or len(roots) != 1:
        raise ConfigError([ConfigProblem(shown, (
            f"a {BESIDE_ITEMS} outside the crew's source folders labels the items beside it, but crew '{crew}' "
            f"has {len(sources)} sources, {len(roots)} of them 'files'"), hint=(
            "give the crew one files source, or rename the labels file (any other name labels the crew's own "
            "items)"))])
    source = sources[0]
    assert isinstance(source, FilesSource)
    if any(labels.match(pattern) for pattern in source.patterns):
        raise ConfigError([ConfigProblem(shown, f"the labels file matches source '{source.name}' patterns "
                                         f"{source.patterns}, so it would be read as an item", key="patterns",
                                         hint="keep the items' patterns from matching .csv files")])
    return folder


def reading_from(project: ProjectSpec, crew: str, folder: Path | None) -> ProjectSpec:
    """The project with the crew's files source reading ``folder`` (unchanged when ``folder`` is ``None``)."""
    if folder is None:
        return project
    spec = project.crews[crew]
    source = spec.sources[0].model_copy(update={"path": str(folder)})
    return replace(project, crews={**project.crews, crew: spec.model_copy(update={"sources": [source]})})
