"""Build the Lambda layer serverless.yml deploys with submit and process_job.

    python scripts/build_lambda_layer.py [--force]

pip is asked for wheels of the Lambda runtime's platform (CPython 3.13, manylinux x86_64),
whatever Python and machine run this script, so no Docker is needed. The layer is rebuilt
only when the requirements or the platform change.

The layer ships its bytecode, compiled by a CPython 3.13 found on this machine (pyenv's, or
python3.13 on PATH): Lambda mounts a layer read-only, so without it every cold start compiles
every module it imports again, and caches nothing. Without such an interpreter the layer is
built without bytecode, and the script says so.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER_DIR = ROOT / "build" / "lambda-layer"
# Lambda puts a layer's python/ folder on sys.path.
SITE_DIR = LAYER_DIR / "python"
STAMP = LAYER_DIR / ".built-for"

# What the functions import besides the standard library and boto3 (which the runtime has).
# PyJWT[crypto]: cryptography verifies the ES256/RS256 user tokens of asymmetric signing keys.
REQUIREMENTS = (
    "psycopg[binary]==3.3.9",
    "psycopg-pool==3.3.3",
    "PyJWT[crypto]==2.15.1",
    "cryptography==51.0.1",
)
# Must match serverless.yml's runtime and architecture (scripts/check_serverless_package.py
# checks the template against these; tests/test_lambda_artifacts.py imports every compiled
# module of the layer under this CPython).
PYTHON_VERSION = "3.13"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")


def runtime_python() -> Path | None:
    """A CPython of the runtime's minor version: pyenv's newest, else python3.13 on PATH."""
    versions = Path.home() / ".pyenv" / "versions"
    found = sorted(
        versions.glob(f"{PYTHON_VERSION}.*/bin/python3"),
        key=lambda p: tuple(int(x) for x in p.parent.parent.name.split(".") if x.isdigit()),
    )
    if found:
        return found[-1]
    on_path = shutil.which(f"python{PYTHON_VERSION}")
    return Path(on_path) if on_path else None


def _stamp_text(compiled: bool) -> str:
    bytecode = "bytecode" if compiled else "no bytecode"
    return "\n".join([f"python {PYTHON_VERSION}", *PLATFORMS, *REQUIREMENTS, bytecode]) + "\n"


def is_current() -> bool:
    return STAMP.is_file() and STAMP.read_text() == _stamp_text(runtime_python() is not None)


def compile_bytecode(site_dir: Path, python: Path) -> None:
    """Bytecode for every module, checked against nothing at import (unchecked-hash): the
    layer never changes once built, and the files do not depend on the zip's timestamps."""
    subprocess.run(
        [
            str(python),
            "-m",
            "compileall",
            "-q",
            "-j0",
            "--invalidation-mode",
            "unchecked-hash",
            str(site_dir),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def build() -> None:
    staging = LAYER_DIR.with_name(LAYER_DIR.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    platform_args = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",  # this Python may not be the runtime's: compiled below
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            PYTHON_VERSION,
            *platform_args,
            "--target",
            str(staging / "python"),
            *REQUIREMENTS,
        ],
        check=True,
    )
    python = runtime_python()
    if python is not None:
        compile_bytecode(staging / "python", python)
    else:
        print(
            f"no CPython {PYTHON_VERSION} here: the layer has no bytecode, so each cold start "
            "compiles the modules it imports",
            file=sys.stderr,
        )
    (staging / STAMP.name).write_text(_stamp_text(python is not None))
    shutil.rmtree(LAYER_DIR, ignore_errors=True)
    staging.rename(LAYER_DIR)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    if is_current() and not args.force:
        print(f"layer up to date: {LAYER_DIR.relative_to(ROOT)}")
        return 0
    build()
    print(f"layer built: {LAYER_DIR.relative_to(ROOT)} ({', '.join(REQUIREMENTS)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
