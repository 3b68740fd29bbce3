"""The dependency arrows of DESIGN.md, checked on the source: a module says where it stands by where it lies."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import helixnet

ROOT = Path(helixnet.__file__).parent

#: package (or module) -> what it must never import at run time
FORBIDDEN = {
    "core": ["helixnet.worker", "helixnet.app", "helixnet.api", "helixnet.ui", "helixnet.cli", "helixnet.serve",
             "helixnet.supervisor", "helixnet.commands", "helixnet.client", "helixnet.remote"],
    "worker": ["helixnet.app", "helixnet.api", "helixnet.ui", "helixnet.cli", "helixnet.serve", "helixnet.commands",
               "helixnet.client", "helixnet.remote"],
    "queue": ["helixnet.core", "helixnet.worker", "helixnet.app", "helixnet.api", "helixnet.ui"],
    "storage": ["helixnet.core", "helixnet.worker", "helixnet.app", "helixnet.api", "helixnet.ui"],
    "plugins/base.py": ["helixnet.core", "helixnet.worker", "helixnet.app"],
    "plugins/registry.py": ["helixnet.core", "helixnet.worker", "helixnet.app"],
    "api": ["helixnet.ui", "helixnet.cli", "helixnet.serve", "helixnet.worker.runner", "helixnet.worker.pool"],
    "ui": ["helixnet.api", "helixnet.cli", "helixnet.serve", "helixnet.worker.runner", "helixnet.worker.pool"],
}  # fmt: skip


def _runtime_imports(path: Path) -> set[str]:
    """Imported module names, leaving out ``if TYPE_CHECKING:`` blocks (annotations only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for stmt in child.orelse:
                    visit(stmt)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.add(child.module)
                found.update(f"{child.module}.{alias.name}" for alias in child.names)
            visit(child)

    visit(tree)
    return found


@pytest.mark.parametrize("where", sorted(FORBIDDEN))
def test_arrows_point_down(where: str) -> None:
    target = ROOT / where
    files = [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))
    assert files, where
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        if "migrations" not in path.parts
        for name in sorted(_runtime_imports(path))
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[where])
    ]
    assert not offences, offences


def test_the_checker_sees_an_import(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import helixnet.api\nimport helixnet.ui\n"
    )
    assert "helixnet.ui" in _runtime_imports(sample) and "helixnet.api" not in _runtime_imports(sample)
