"""Data flows one way: intake → cases → banking → dunning → collection → web → demo → ops
(docs/architecture.md)."""

import ast
from pathlib import Path

import mahnwerk

ORDER = ["intake", "cases", "banking", "dunning", "collection", "web", "demo", "ops"]
ROOT = Path(mahnwerk.__file__).parent


def imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name.split(".")[1] for name in names
            if name.startswith("mahnwerk.") and name.split(".")[1] in ORDER}


def test_no_module_imports_from_an_app_to_its_right():
    wrong = []
    for app in ORDER:
        for path in (ROOT / app).rglob("*.py"):
            for other in imported_apps(path):
                if ORDER.index(other) > ORDER.index(app):
                    wrong.append(f"{path.relative_to(ROOT)} imports mahnwerk.{other}")
    assert wrong == []


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_two_modules_import_each_other_even_inside_a_function():
    """A house without loops (issue 8): every import, at the top or inside a function, points
    one way; a module that needs another's words and is needed by it shares a third."""
    modules = {_module(p): p for p in ROOT.rglob("*.py") if "migrations" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module \
                    and node.module.startswith("mahnwerk"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("mahnwerk"))
        graph[name] = {other for other in found if other in modules and other != name}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            current = todo.pop()
            if current == goal:
                return True
            if current not in seen:
                seen.add(current)
                todo.extend(graph[current])
        return False

    loops = sorted(f"{a} <-> {b}" for a in graph for b in graph[a] if a < b or b not in graph
                   if reaches(b, a))
    assert loops == []
