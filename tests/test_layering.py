"""Data flows one way: each package imports only the packages listed above
it in the README's Layout table, so a plugin author's `graphs` stays free
of models and commands, and no library module reaches up into a command."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The Layout table's order; a row may import any row above it.
LAYERS = [("storage",), ("graphs",), ("plugins", "registry"), ("dialogues",), ("models",),
          ("runner",), ("viewing",), ("serving",), ("experiments",)]
PACKAGES = {name: rank for rank, row in enumerate(LAYERS) for name in row}


def modules(package: str) -> list[Path]:
    if package == "registry":
        return [ROOT / "registry.py"]
    return sorted((ROOT / package).rglob("*.py"))


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


def test_every_package_imports_only_the_layers_above_it():
    upward = []
    for package, rank in PACKAGES.items():
        for path in modules(package):
            for other in imported_packages(path):
                if PACKAGES[other] > rank:
                    upward.append(f"{path.relative_to(ROOT)} imports {other}")
    assert upward == []


def test_the_readme_layout_lists_the_layers_in_this_order():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    first_row = {}
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    for number, row in enumerate(rows):
        cell = row.split("|")[1]
        for name in PACKAGES:
            if f"`{name}/`" in cell or f"`{name}.py`" in cell:
                first_row.setdefault(name, number)
    assert sorted(first_row) == sorted(PACKAGES), "a package is missing from the table"
    by_row = sorted(PACKAGES, key=first_row.__getitem__)
    assert [PACKAGES[name] for name in by_row] == sorted(PACKAGES.values())
