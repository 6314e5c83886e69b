"""The library's import graph, read from the source with `ast`: no cycle between modules, and no
function-level import that dodges one (a lazy import is allowed only where the imported module
does not, directly or not, import the importer back)."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def module_files() -> dict[str, pathlib.Path]:
    files = {}
    for path in (ROOT / "cnnjax").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def imports(files: dict[str, pathlib.Path]):
    """(module-level edges, [(module, line, target)] of imports inside functions)."""

    def known(name: str) -> str:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name

    def with_packages(name: str) -> list[str]:
        parts = name.split(".") if name else []
        return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]

    edges, inner = {name: set() for name in files}, []
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base
                           for a in node.names]  # fmt: skip
            else:
                continue
            for target in {p for t in targets for p in with_packages(known(t))}:
                # Importing `a.b.c` runs the `a` and `a.b` package inits first; the importer's
                # own enclosing packages are already running, so they are no edge.
                if target == name or name.startswith(target + "."):
                    continue
                if node.col_offset == 0:
                    edges[name].add(target)
                else:
                    inner.append((name, node.lineno, target))
    return edges, inner


def reaches(edges, start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name == goal:
            return True
        if name not in seen:
            seen.add(name)
            todo.extend(edges.get(name, ()))
    return False


def test_no_import_cycle_between_library_modules():
    edges, _ = imports(module_files())
    cycles = [(a, b) for a in edges for b in edges[a] if reaches(edges, b, a)]
    assert not cycles, f"module-level import cycles through: {cycles}"


def test_no_function_level_import_dodges_a_cycle():
    edges, inner = imports(module_files())
    dodges = [f"{m}:{line} -> {t}" for m, line, t in inner if reaches(edges, t, m)]
    assert not dodges, f"these imports sit inside functions to dodge a cycle: {dodges}"
