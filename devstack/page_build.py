"""Build the page into ``frontend/dist/``: everything a static host needs, supabase-js included.

    python -m devstack.page_build [--out DIR]

The page's own files (``app.js`` and the ES modules it imports from ``modules/``) are copied as
they are; the pinned supabase-js UMD bundle comes from the npm package in
``frontend/node_modules`` (``npm ci`` there), with the licence of every package the bundle is
made of; ``config.js`` is the documented template, to be filled in per host.
No bundler: the page is plain files, and the build only gathers them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
DIST = FRONTEND / "dist"
PAGE_FILES = ("index.html", "style.css", "app.js")
# The ES modules app.js imports (the browser loads them as they are): every *.js in this folder.
MODULES = "modules"
CONFIG_TEMPLATE = "config.example.js"
SUPABASE_JS = "@supabase/supabase-js"
UMD_BUNDLE = Path("dist/umd/supabase.js")
# Where index.html loads it from, relative to the page.
VENDOR = Path("vendor")
LICENCE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "license")
# The operators' dashboard (issue 23): its page, its own modules, and uPlot (MIT), the chart
# library, vendored from its npm package with its licence.
DASHBOARD_PAGE, DASHBOARD_MODULES = "dashboard.html", "dashboard"
CHARTS = "uplot"
CHART_FILES = ("dist/uPlot.esm.js", "dist/uPlot.min.css")


@dataclass(frozen=True)
class NpmPackage:
    name: str
    version: str
    licence: str
    folder: Path


class PageBuildError(RuntimeError):
    """Something the page needs is missing (say what, and how to get it)."""


def _package(node_modules: Path, name: str) -> NpmPackage:
    folder = node_modules / name
    manifest = folder / "package.json"
    if not manifest.exists():
        raise PageBuildError(
            f"{manifest} is missing: run `npm ci` in {node_modules.parent} (make does)"
        )
    data = json.loads(manifest.read_text())
    return NpmPackage(name, str(data["version"]), str(data.get("license", "unknown")), folder)


def bundled_packages(node_modules: Path) -> list[NpmPackage]:
    """supabase-js and every package it depends on at run time: what its UMD bundle holds."""
    found: dict[str, NpmPackage] = {}
    todo = [SUPABASE_JS]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        package = _package(node_modules, name)
        found[name] = package
        manifest = json.loads((package.folder / "package.json").read_text())
        todo.extend(manifest.get("dependencies", {}))
    return sorted(found.values(), key=lambda p: p.name)


def _licence_file(package: NpmPackage) -> Path:
    for name in LICENCE_NAMES:
        if (package.folder / name).is_file():
            return package.folder / name
    raise PageBuildError(f"{package.name} {package.version} ships no licence file")


def _notice(packages: list[NpmPackage]) -> str:
    lines = [
        "Third-party code in supabase.js (the UMD bundle of @supabase/supabase-js, copied as",
        "published). Each package's licence is in licenses/<package>/.",
        "",
    ]
    lines += [f"{p.name} {p.version} ({p.licence})" for p in packages]
    return "\n".join(lines) + "\n"


def page_modules(source: Path = FRONTEND) -> list[Path]:
    """The page's modules, as the folder holds them (the build keeps no list of its own)."""
    return sorted((source / MODULES).glob("*.js"))


def build(out: Path = DIST, source: Path = FRONTEND) -> Path:
    """Write the page into ``out`` (replaced whole, so a server never sees half of it)."""
    node_modules = source / "node_modules"
    packages = bundled_packages(node_modules)
    bundle = node_modules / SUPABASE_JS / UMD_BUNDLE
    if not bundle.is_file():
        raise PageBuildError(f"{bundle} is missing: run `npm ci` in {source}")
    staging = out.with_name(out.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in PAGE_FILES:
        shutil.copy2(source / name, staging / name)
    (staging / MODULES).mkdir()
    for module in page_modules(source):
        shutil.copy2(module, staging / MODULES / module.name)
    shutil.copy2(source / CONFIG_TEMPLATE, staging / "config.js")
    vendor = staging / VENDOR
    vendor.mkdir()
    shutil.copy2(bundle, vendor / "supabase.js")
    for package in packages:
        licence = _licence_file(package)
        target = vendor / "licenses" / package.name
        target.mkdir(parents=True)
        shutil.copy2(licence, target / licence.name)
    (vendor / "THIRD_PARTY.txt").write_text(_notice(packages))
    _add_dashboard(source, staging)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return out


def _add_dashboard(source: Path, staging: Path) -> None:
    """The dashboard page, its modules, and uPlot under vendor/uplot/ with its licence."""
    shutil.copy2(source / DASHBOARD_PAGE, staging / DASHBOARD_PAGE)
    shutil.copytree(source / DASHBOARD_MODULES, staging / DASHBOARD_MODULES)
    charts = _package(source / "node_modules", CHARTS)
    target = staging / VENDOR / CHARTS
    target.mkdir()
    for name in CHART_FILES:
        shutil.copy2(charts.folder / name, target / Path(name).name)
    shutil.copy2(_licence_file(charts), target / "LICENSE")
    (target / "VERSION").write_text(f"{charts.name} {charts.version} ({charts.licence})\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DIST)
    args = parser.parse_args(argv)
    try:
        out = build(args.out)
    except PageBuildError as error:
        print(f"page build failed: {error}", file=sys.stderr)
        return 1
    print(f"the page is in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
