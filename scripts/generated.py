"""One rule for the files the scripts generate: write them when stale, or with ``--check`` fail
when they are (the test suite runs every check)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_or_check(
    output: Path, render: Callable[[], str], script: str, argv: list[str] | None, doc: str | None
) -> int:
    """``output`` as ``render`` makes it: rewritten when it differs, or (``--check``) exit 1."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    wanted = render()
    current = output.read_text() if output.is_file() else ""
    name = output.relative_to(ROOT)
    if args.check:
        if current != wanted:
            print(f"{name} is stale: run python scripts/{script}", file=sys.stderr)
            return 1
        return 0
    if current != wanted:
        output.write_text(wanted)
        print(f"wrote {name}")
    return 0
