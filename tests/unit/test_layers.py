"""The layers, read from the source: the core and the worker import only the standard library
(and what lies beneath them, one named exception), and no deployed module imports the tests."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What each package may import besides the standard library.
ALLOWED = {
    # jwt: core/user_tokens.py verifies access tokens with PyJWT, the one exception so far
    # (issue 19 reworks token checks; take it out of here when it leaves core).
    "functions/core": ("functions.core", "jwt"),
    "functions/worker": ("functions.core", "functions.worker"),
}


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at its top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def outside(names: set[str], allowed: tuple[str, ...]) -> list[str]:
    return sorted(
        name
        for name in names
        if name.split(".")[0] not in sys.stdlib_module_names
        and not any(name == a or name.startswith(a + ".") for a in allowed)
    )


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_platform_free_package_imports_the_standard_library_only(package: str) -> None:
    strays = {
        path.relative_to(ROOT).as_posix(): found
        for path in sorted((ROOT / package).glob("*.py"))
        if (found := outside(imported(path), ALLOWED[package]))
    }
    assert strays == {}


def test_no_deployed_module_imports_the_tests() -> None:
    strays = [
        path.relative_to(ROOT).as_posix()
        for path in sorted((ROOT / "functions").rglob("*.py"))
        if any(name == "tests" or name.startswith("tests.") for name in imported(path))
    ]
    assert strays == []


def test_the_check_sees_a_stray_import() -> None:
    assert outside(
        {"json", "psycopg", "functions.db.store", "functions.core.models"}, ("functions.core",)
    ) == [
        "functions.db.store",
        "psycopg",
    ]
