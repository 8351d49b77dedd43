"""Who may import what (STYLE.md, "The rooms"), checked on the source text with ast: no module is
imported, so a wrong import is caught even where it sits inside a function that no test runs.

schemas imports nothing of ours; ocr only schemas; rpa only schemas; samples may import ocr and
schemas; training may import ocr and schemas, and nothing imports training; nothing under ocr, rpa
or schemas imports Prefect, nor Playwright under ocr or schemas. Under flows, nothing but the
command line imports the command line, and the flows themselves import neither the benchmarks
nor the service. No module of ours takes part in an import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOTS = ("schemas", "ocr", "rpa", "samples", "training", "flows")  # training/ may not exist yet
MAY_IMPORT = {  # room -> the rooms of ours it may import besides itself
    "schemas": set(),
    "ocr": {"schemas"},
    "rpa": {"schemas"},
    "samples": {"ocr", "schemas"},
    "training": {"ocr", "schemas"},
}
FORBIDDEN_THIRD_PARTY = {"ocr": {"prefect", "playwright"}, "schemas": {"prefect", "playwright"}, "rpa": {"prefect"}}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules() -> dict[str, Path]:
    """Every module of ours under the source roots, by dotted name."""
    return {module_name(p): p for root in ROOTS if (REPO / root).is_dir() for p in sorted((REPO / root).rglob("*.py"))}


def imports(path: Path, name: str, ours: set[str]) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, anywhere in it (functions included). A `from a
    import b` names module a.b when b is a module of ours, else a. Relative imports are resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.append((node.lineno, sub if sub in ours else base))
    return found


def our_target(module: str, ours: set[str]) -> str | None:
    """The module of ours an import names (itself, or the closest package of ours above it)."""
    while module:
        if module in ours:
            return module
        module = module.rpartition(".")[0]
    return None


def graph() -> tuple[dict[str, Path], dict[str, list[tuple[int, str]]]]:
    """Modules of ours and, for each, every import (line, imported name) it makes."""
    mods = source_modules()
    ours = set(mods)
    return mods, {m: imports(p, m, ours) for m, p in mods.items()}


def room(module: str) -> str:
    return module.split(".")[0]


def test_each_room_imports_only_the_rooms_below_it():
    mods, edges = graph()
    ours, wrong = set(mods), []
    for m, found in edges.items():
        for line, imported in found:
            target = our_target(imported, ours)
            top = imported.split(".")[0]
            if target is not None and room(target) != room(m):
                allowed = MAY_IMPORT.get(room(m))
                if room(target) == "training" or (allowed is not None and room(target) not in allowed):
                    wrong.append(f"{mods[m].relative_to(REPO)}:{line} imports {imported}")
            if top in FORBIDDEN_THIRD_PARTY.get(room(m), ()):
                wrong.append(f"{mods[m].relative_to(REPO)}:{line} imports {imported}")
    assert not wrong, "imports across the rooms' rules (STYLE.md):\n" + "\n".join(wrong)


def test_the_flows_rooms_import_one_way():
    """flows.cli is imported by nothing else; the flows (modules directly under flows/) import
    neither flows.bench nor flows.service, which are built on them."""
    mods, edges = graph()
    ours, wrong = set(mods), []
    for m, found in edges.items():
        for line, imported in found:
            target = our_target(imported, ours) or ""
            into_cli = target.startswith("flows.cli") and not m.startswith("flows.cli")
            flow_module = m.startswith("flows.") and m.count(".") == 1
            into_tools = flow_module and target.startswith(("flows.bench", "flows.service"))
            if into_cli or into_tools:
                wrong.append(f"{mods[m].relative_to(REPO)}:{line} imports {imported}")
    assert not wrong, "\n".join(wrong)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    mods, found = graph()
    ours = set(mods)
    edges = {m: {t for _, i in imps if (t := our_target(i, ours)) and t != m} for m, imps in found.items()}
    assert not cycles(edges), f"import cycles: {cycles(edges)}"


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
