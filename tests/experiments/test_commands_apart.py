"""Commands are thin and never import each other: what two commands share
lives in a library (``runner/``, ``dialogues/``, ...)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
COMMANDS = sorted(p for p in EXPERIMENTS.rglob("*.py") if p.name != "__init__.py")


def imported_modules(path: Path) -> list[str]:
    """Every module :obj:`path` imports, absolute (relative imports resolved
    against the experiments package), with the names ``from X import`` takes
    as modules too, since ``from experiments import predict`` is one."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = path.relative_to(EXPERIMENTS.parent).parent.parts
                kept = package[:len(package) - (node.level - 1)]
                base = ".".join([*kept, *([base] if base else [])])
            names += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return names


def test_every_command_is_found():
    assert {p.stem for p in COMMANDS} >= {"run", "visualize", "predict", "stream", "serve",
                                          "prepare", "compare", "results"}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda p: p.name)
def test_no_command_imports_another(command):
    others = {p.relative_to(EXPERIMENTS.parent).with_suffix("").as_posix().replace("/", ".")
              for p in COMMANDS if p != command}
    assert not sorted(others & set(imported_modules(command)))
