"""The console scripts. Each first checks that the extra it needs is installed, and otherwise
says which to install and exits 2, instead of a traceback from a failed import.

What an extra holds is read from the installed package's own metadata (its ``Requires-Dist``
lines, generated from pyproject.toml), so no list of modules is kept here. This module imports
nothing beyond the standard library until the check has passed.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from importlib import metadata

DISTRIBUTION = "supajobs"
# script -> (the extras it needs, the module whose main() it runs)
SCRIPTS: dict[str, tuple[tuple[str, ...], str]] = {
    "supajobs": (("client",), "client.__main__"),
    "supajobs-dev": (("devstack", "client"), "devstack.__main__"),
    "supajobs-migrate": (("devstack",), "devstack.postgres.migrate"),
    "supajobs-relay": (("devstack",), "devstack.relay.__main__"),
    "supajobs-realtime": (("devstack",), "devstack.realtime.__main__"),
}
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def prog(module_form: str) -> str:
    """The name usage lines give: the installed script's (``supajobs``) when run as one,
    else ``module_form`` (``python -m client``)."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return name if name in SCRIPTS else module_form


def missing(extra: str) -> list[str]:
    """The distributions ``extra`` requires that are not installed (none when the package's
    metadata cannot be read, as when run from a checkout)."""
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return []
    absent = []
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        extra_named = _EXTRA.search(marker)
        name = _NAME.match(spec.strip())
        if extra_named is None or extra_named.group(1) != extra or name is None:
            continue
        if name.group(0) == DISTRIBUTION:
            continue  # an extra that includes others (supajobs[devstack,client])
        try:
            metadata.distribution(name.group(0))
        except metadata.PackageNotFoundError:
            absent.append(name.group(0))
    return absent


def run(script: str) -> int:
    extras, module = SCRIPTS[script]
    for extra in extras:
        absent = missing(extra)
        if absent:
            print(
                f"{script} needs the '{extra}' extra, which is not installed"
                f" ({', '.join(absent)} missing): pip install 'supajobs[{extra}]'",
                file=sys.stderr,
            )
            return 2
    main = importlib.import_module(module).main
    return int(main() or 0)


def client() -> int:
    return run("supajobs")


def dev() -> int:
    return run("supajobs-dev")


def migrate() -> int:
    return run("supajobs-migrate")


def relay() -> int:
    return run("supajobs-relay")


def realtime() -> int:
    return run("supajobs-realtime")
