"""Data flows one way: intake → cases → dunning → collection → web → demo
(docs/architecture.md)."""

import ast
from pathlib import Path

import mahnwerk

ORDER = ["intake", "cases", "dunning", "collection", "web", "demo"]
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
