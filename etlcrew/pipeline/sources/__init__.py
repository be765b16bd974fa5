"""Extract: turn a source spec into a deterministic stream of ``Item``s, before any model is called.

Each source checks what would fail the whole source (missing folder, database, first page of an API) when
``iter_items`` is called, raising ``SourceError``; bad content later becomes quarantined items.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from etlcrew.pipeline.items import Item
from etlcrew.specs.datapath import FilesSource, HttpSource, SqlSource


def iter_items(spec: FilesSource | SqlSource | HttpSource, project_dir: Path) -> Iterator[Item]:
    """Items of one source, in a stable order; imports each source's heavy libraries only when used."""
    if isinstance(spec, FilesSource):
        from etlcrew.pipeline.sources.files import iter_files

        return iter_files(spec, Path(project_dir))
    if isinstance(spec, SqlSource):
        from etlcrew.pipeline.sources.sql import iter_sql

        return iter_sql(spec, Path(project_dir))
    if isinstance(spec, HttpSource):
        from etlcrew.pipeline.sources.http import iter_http

        return iter_http(spec)
    raise TypeError(f"unknown source spec {type(spec).__name__}")


__all__ = ["iter_items"]
