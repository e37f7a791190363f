"""The one-way arrows of DESIGN.md, checked on every module of ``ai/`` so they stay true.

``core`` imports nothing of ours; sources, judges and infrastructure import only ``core`` (and
themselves); journal research and the standalone training scripts sit on sourcing; only the orchestrator
sees everything, and it never imports ``ai/training``. Module paths written as strings (the stage and
source registries load them with ``importlib``) count as imports.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

AI = Path(__file__).resolve().parents[2] / "ai"
MODULE_PATH = re.compile(r"^ai(\.\w+)+$")

# Top-level package of ai/ -> the packages of ours it may import besides itself.
ALLOWED = {
    "core": set(),
    "sourcing": {"core"},
    "safety": {"core"},
    "infrastructure": {"core"},
    "journal_dataset_research": {"core", "sourcing"},
    # standalone entry points over sourcing; grounded generation needs the groundedness judge
    "training": {"core", "sourcing", "safety"},
    "pipelines": {"core", "sourcing", "safety", "infrastructure", "journal_dataset_research"},
}


def imported_packages(path: Path) -> set[str]:
    """Top-level ``ai`` packages that ``path`` imports, statically or by a module-path string."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_PATH.match(node.value):
            names.add(node.value)
    return {name.split(".")[1] for name in names if name.startswith("ai.") and name.count(".") >= 1}


def package_of(path: Path) -> str:
    return path.relative_to(AI).parts[0]


def modules() -> list[Path]:
    return sorted(p for p in AI.rglob("*.py") if len(p.relative_to(AI).parts) > 1)


def test_every_package_has_a_rule() -> None:
    assert {package_of(p) for p in modules()} <= set(ALLOWED)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(AI)))
def test_imports_point_one_way(path: Path) -> None:
    own = package_of(path)
    wrong = imported_packages(path) - ALLOWED[own] - {own}
    assert not wrong, f"ai/{path.relative_to(AI)} ({own}) imports {sorted(wrong)}"


def test_checker_sees_function_level_and_string_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from ai.training.x import y\n"
        "TABLE = {'a': 'ai.pipelines.orchestrator.dedup'}\n"
        "'''ai.safety is mentioned in prose, not imported.'''\n"
        "import ai.core.records\n",
        encoding="utf-8",
    )
    assert imported_packages(module) == {"training", "pipelines", "core"}
