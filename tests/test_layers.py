"""The layering of docs/architecture.md, held on every module's imports.

Each module of ``src/atende_logs`` is parsed, not imported, so an import inside a function
counts as much as one at the top; ``from atende_logs import x`` counts as importing ``x``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "atende_logs"

FORBIDDEN: dict[str, set[str]] = {
    "storage": {"http", "cli", "client"},
    "ingest": {"http", "cli", "client"},
    "query": {"http", "cli", "client", "storage", "ingest", "export"},
    "kinds": {"http", "cli", "client", "storage", "ingest", "export", "query"},
    "export": {"http", "cli", "client", "ingest"},
    "client": {"http", "cli", "storage", "ingest"},
    "sync": {"http", "cli", "storage", "ingest", "query", "export", "ratelimit"},
    "ratelimit": {"http", "cli", "storage", "ingest"},
    "consume": {"http", "cli", "client", "query", "export", "ratelimit"},
    "http": {"cli"},
    "cli": {"http"},
}
"""For each part (a folder of ``atende_logs``), the parts it must never import."""


def _part(module: str) -> str:
    """``atende_logs.storage.sqlite`` → ``storage``; a top-level module is its own part."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imported_parts(path: Path) -> set[str]:
    """The parts of ``atende_logs`` that the module at ``path`` imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "atende_logs":
                names = [f"atende_logs.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {_part(name) for name in names if name.startswith("atende_logs.")}
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_layers_hold() -> None:
    broken = []
    for path in _modules():
        relative = path.relative_to(PACKAGE)
        if len(relative.parts) < 2:
            continue
        own = relative.parts[0]
        for part in imported_parts(path) & FORBIDDEN.get(own, set()):
            broken.append(f"{relative} imports atende_logs.{part}")
    assert broken == []


def test_every_folder_has_its_rule() -> None:
    """A new folder must say where it sits: add it to FORBIDDEN and to docs/architecture.md."""
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(FORBIDDEN)


@pytest.mark.parametrize(
    ("source", "parts"),
    [
        ("from atende_logs.http.app import create_app", {"http"}),
        ("def f():\n    import atende_logs.cli.main", {"cli"}),
        ("from atende_logs import normalize, storage", {"normalize", "storage"}),
        ("from . import sibling\nimport orjson", set()),
    ],
)
def test_imports_are_found_wherever_they_are(tmp_path: Path, source: str, parts: set[str]) -> None:
    module = tmp_path / "m.py"
    module.write_text(source)
    assert imported_parts(module) == parts
