"""The page build (``make page``): dist/ holds everything index.html loads and every module the
page imports (each name it imports exported there), supabase-js as the pinned npm package
publishes it, every bundled package's licence, and the config template."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from devstack import page_build


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return page_build.build(tmp_path_factory.mktemp("page") / "dist")


def test_everything_the_page_loads_is_in_dist(dist: Path) -> None:
    html = (dist / "index.html").read_text()
    local = [
        ref
        for ref in re.findall(r'(?:src|href)="([^"]+)"', html)
        if not ref.startswith(("#", "data:", "http:", "https:", "//"))
    ]
    assert "vendor/supabase.js" in local and "config.js" in local and "app.js" in local
    missing = [ref for ref in local if not (dist / ref).is_file()]
    assert missing == []
    assert "node_modules" not in html


# `import { a, b as c } from "./x.js";` and `import x from "./x.js";` (the page has no other kind).
IMPORT = re.compile(r'^import\s+(?:\{([^}]*)\}|\w+)\s+from\s+"([^"]+)";', re.M)
EXPORT = re.compile(r"^export\s+(?:async\s+)?(?:function\*?|const|let|class)\s+(\w+)", re.M)
EXPORT_LIST = re.compile(r"^export\s*\{([^}]*)\}", re.M)


def _imports(module: Path) -> list[tuple[str, list[str]]]:
    """(the specifier, the names imported) of each static import in a module."""
    found = []
    for names, specifier in IMPORT.findall(module.read_text()):
        imported = [n.split(" as ")[0].strip() for n in names.split(",") if n.strip()]
        found.append((specifier, imported or ["default"]))
    return found


def _exports(module: Path) -> set[str]:
    text = module.read_text()
    names = set(EXPORT.findall(text))
    if re.search(r"^export\s+default\b", text, re.M):
        names.add("default")
    for listed in EXPORT_LIST.findall(text):
        names |= {n.split(" as ")[-1].strip() for n in listed.split(",") if n.strip()}
    return names


def _cycle(graph: dict[Path, set[Path]]) -> list[str] | None:
    """The names along one import cycle, or None when the graph has none."""
    done: set[Path] = set()

    def visit(module: Path, path: list[Path]) -> list[str] | None:
        if module in path:
            return [m.name for m in path[path.index(module) :]] + [module.name]
        if module in done:
            return None
        for target in sorted(graph.get(module, ())):
            found = visit(target, [*path, module])
            if found:
                return found
        done.add(module)
        return None

    for module in sorted(graph):
        found = visit(module, [])
        if found:
            return found
    return None


def test_every_module_the_page_imports_is_in_dist_and_exports_what_is_imported(
    dist: Path,
) -> None:
    # Walk the import graph from the entry index.html loads, as the browser does.
    seen: set[Path] = set()
    graph: dict[Path, set[Path]] = {}
    todo = [dist / "app.js"]
    problems = []
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        graph[module] = set()
        for specifier, names in _imports(module):
            if not specifier.startswith(("./", "../")):
                problems.append(f"{module.name}: {specifier} is not a relative path (no bundler)")
                continue
            target = (module.parent / specifier).resolve()
            if not target.is_file():
                problems.append(f"{module.name} imports {specifier}, which is not in dist")
                continue
            missing = set(names) - _exports(target)
            if missing:
                problems.append(f"{module.name} imports {sorted(missing)} that {specifier} lacks")
            graph[module].add(target)
            todo.append(target)
    assert problems == []
    # No cycles: each module is evaluated after everything it imports (app.js wires the rest).
    assert _cycle(graph) is None
    # Every module the build copied is one the page loads, and each is its source, unchanged.
    modules = {m.resolve() for m in (dist / page_build.MODULES).glob("*.js")}
    assert modules and modules <= {m.resolve() for m in seen}
    for source in page_build.page_modules():
        assert (dist / page_build.MODULES / source.name).read_bytes() == source.read_bytes()
    assert len(modules) == len(page_build.page_modules())


def test_the_check_reads_named_and_default_imports_and_exports(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text(
        'import { here, gone } from "./b.js";\nimport x from "./c.js";\n'
    )
    (tmp_path / "b.js").write_text("export function here() {}\nexport { y as z };\n")
    (tmp_path / "c.js").write_text("export default 1;\n")
    assert _imports(tmp_path / "a.js") == [("./b.js", ["here", "gone"]), ("./c.js", ["default"])]
    assert _exports(tmp_path / "b.js") == {"here", "z"}
    assert _exports(tmp_path / "c.js") == {"default"}
    a, b, c = (tmp_path / n for n in ("a.js", "b.js", "c.js"))
    assert _cycle({a: {b, c}, b: {c}, c: set()}) is None
    assert _cycle({a: {b}, b: {c}, c: {b}}) == ["b.js", "c.js", "b.js"]


def test_supabase_js_is_the_pinned_packages_bundle_byte_for_byte(dist: Path) -> None:
    lock = json.loads((page_build.FRONTEND / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/@supabase/supabase-js"]["version"]
    package = page_build.FRONTEND / "node_modules" / page_build.SUPABASE_JS
    assert json.loads((package / "package.json").read_text())["version"] == pinned
    published = (package / page_build.UMD_BUNDLE).read_bytes()
    assert (dist / "vendor" / "supabase.js").read_bytes() == published


def test_each_bundled_package_has_its_licence_and_a_line_in_the_notice(dist: Path) -> None:
    packages = page_build.bundled_packages(page_build.FRONTEND / "node_modules")
    names = {p.name for p in packages}
    assert {"@supabase/supabase-js", "@supabase/realtime-js", "tslib"} <= names
    notice = (dist / "vendor" / "THIRD_PARTY.txt").read_text()
    for package in packages:
        licences = list((dist / "vendor" / "licenses" / package.name).iterdir())
        assert len(licences) == 1 and licences[0].stat().st_size > 0, package.name
        assert f"{package.name} {package.version} ({package.licence})" in notice
    mit = (dist / "vendor" / "licenses" / "@supabase" / "supabase-js" / "LICENSE").read_text()
    assert "MIT" in mit or "Permission is hereby granted" in mit


def test_the_config_template_holds_no_values(dist: Path) -> None:
    template = (dist / "config.js").read_text()
    assert "window.JOBS_CONFIG" in template
    values = re.findall(r'^\s*(functionsUrl|supabaseUrl|supabaseKey): "(.*)",$', template, re.M)
    assert values == [("functionsUrl", ""), ("supabaseUrl", ""), ("supabaseKey", "")]


def test_without_node_modules_the_build_says_what_to_run(tmp_path: Path) -> None:
    source = tmp_path / "frontend"
    source.mkdir()
    for name in (*page_build.PAGE_FILES, page_build.CONFIG_TEMPLATE):
        shutil.copy2(page_build.FRONTEND / name, source / name)
    with pytest.raises(page_build.PageBuildError, match="npm ci"):
        page_build.build(tmp_path / "dist", source=source)
    assert not (tmp_path / "dist").exists()
