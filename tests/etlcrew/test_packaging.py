"""The wheel holds one top-level package, ``etlcrew``, and every module the code imports is inside it."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAPPED = ("agents", "crews", "tasks", "tools")  # top-level folders installed as etlcrew.<name>
SHIPPED = ("etlcrew", *MAPPED)


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def _package_folders() -> set[str]:
    found = set()
    for top in SHIPPED:
        for init in (ROOT / top).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT).parts
            found.add(".".join(relative) if relative[0] == "etlcrew" else ".".join(("etlcrew", *relative)))
    return found


def test_the_package_list_names_every_package_folder() -> None:
    listed = set(_setuptools()["packages"])
    assert listed == _package_folders(), "pyproject.toml [tool.setuptools] packages is out of step with the folders"


def test_the_design_folders_install_under_etlcrew() -> None:
    assert _setuptools()["package-dir"] == {f"etlcrew.{name}": name for name in MAPPED}


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_imports_a_folder_by_its_repository_name() -> None:
    """``from tools.x import`` works in the checkout (the cwd is on the path) and breaks the installed wheel."""
    bare = {"agents", "crews", "tasks", "tools", "pipeline", "ledger", "model_runtime", "observe", "evaluation"}
    offenders = []
    for top in (*SHIPPED, "tests", "bench"):
        for path in (ROOT / top).rglob("*.py"):
            hits = _top_level_imports(path) & bare
            if hits:
                offenders.append(f"{path.relative_to(ROOT)}: {sorted(hits)}")
    assert offenders == []
