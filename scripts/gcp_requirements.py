"""requirements.txt for Google's Python buildpack, derived from pyproject.toml.

    python scripts/gcp_requirements.py          # rewrite requirements.txt
    python scripts/gcp_requirements.py --check  # exit 1 if the file is stale

The buildpack installs requirements.txt from the uploaded source root (main.py's folder, the
repository's root); the project's base dependencies and its ``gcp`` extra are what the three
functions import on Google Cloud, so those are the file, and nothing in it is kept by hand.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from generated import write_or_check  # scripts/ is on the path when run

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "requirements.txt"
EXTRA = "gcp"


def requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"][EXTRA]]


def render() -> str:
    header = (
        "# Generated from pyproject.toml (dependencies and the gcp extra) by\n"
        "# scripts/gcp_requirements.py; do not edit. Google's Python buildpack reads it.\n"
    )
    return header + "".join(f"{line}\n" for line in requirements())


def main(argv: list[str] | None = None) -> int:
    return write_or_check(OUTPUT, render, "gcp_requirements.py", argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
