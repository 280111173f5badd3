"""Imports point one way (DESIGN.md): inside ``training/``, generation <- fitting <- shipping <- active, and
nothing below ``training`` reaches up into it except the command line and the screening."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "equiformer_ase"
ROOMS = ("generation", "fitting", "shipping", "active")  # each may import only rooms to its left


def imported_modules(path: Path) -> set[str]:
    """Dotted names (absolute, under equiformer_ase) of every module ``path`` imports, lazily or not."""
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("equiformer_ase")}


@pytest.mark.parametrize("room", ROOMS)
def test_a_training_room_imports_no_room_to_its_right(room):
    later = ROOMS[ROOMS.index(room) + 1 :]
    for path in (PACKAGE / "training" / room).glob("*.py"):
        wrong = {
            name
            for name in imported_modules(path)
            if any(name.startswith(f"equiformer_ase.training.{other}") for other in later)
        }
        assert not wrong, f"{path.name} ({room}) imports {sorted(wrong)}"


def test_nothing_below_training_imports_it():
    allowed = {"cli.py", "screening", "training", "__init__.py"}
    for path in PACKAGE.rglob("*.py"):
        top = path.relative_to(PACKAGE).parts[0]
        if top in allowed:
            continue
        wrong = {
            name
            for name in imported_modules(path)
            if name == "equiformer_ase.training" or name.startswith("equiformer_ase.training.")
        }
        assert not wrong, f"{path.relative_to(PACKAGE)} imports {sorted(wrong)}"
