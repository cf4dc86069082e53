"""The docs cannot fall behind the code: generated blocks must match, nothing may be missing.

Blocks between ``<!-- generated:NAME -->`` and ``<!-- end:NAME -->`` markers are rebuilt
from the code; run ``UPDATE_DOCS=1 pytest tests/test_docs.py`` to rewrite them after a change.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer

from atende_logs.cli.main import app
from atende_logs.config import Settings
from atende_logs.export.columns import header
from atende_logs.http.openapi import example_page
from atende_logs.kinds import KINDS
from atende_logs.query.output import OUTPUT_PARAMETERS
from atende_logs.query.parse import COMMON_PARAMETERS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SPEC = ROOT.parent / "shared" / "spec"


def _settings_table() -> str:
    rows = ["| variable | default | what it does |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `ATENDE_{name.upper()}` | `{field.default}` | {field.description} |")
    return "\n".join(rows)


def _filters_table() -> str:
    parts = []
    for kind in KINDS.values():
        rows = [f"### `{kind.path}`", "", "| parameter | spec | meaning |", "|---|---|---|"]
        rows += [f"| `{s.param}` | {s.description} | {s.semantics} |" for s in kind.filters]
        parts.append("\n".join(rows))
    return "\n\n".join(parts)


def _commands(group: Any, prefix: str) -> list[tuple[str, Any]]:
    """Every leaf command below ``group`` (typer vendors click, so go by shape, not class)."""
    found = []
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            found += _commands(command, f"{prefix} {name}")
        else:
            found.append((f"{prefix} {name}", command))
    return found


def _cli_reference() -> str:
    rows = []
    for path, command in _commands(typer.main.get_group(app), "atende-logs"):
        usage = " ".join(
            p.opts[0] if p.param_type_name == "option" else p.name.upper()
            for p in command.params
            if p.name != "help"
        )
        summary = (command.help or "").strip().splitlines()[0]
        rows.append(f"### `{path}`\n\n`{f'{path} {usage}'.strip()}`\n\n{summary}")
    return "\n\n".join(rows)


def _export_columns() -> str:
    parts = []
    for kind in KINDS.values():
        rows = [f"### `{kind.path}` ({kind.name}.csv)", "", "| # | column |", "|---|---|"]
        rows += [f"| {n} | `{name}` |" for n, name in enumerate(header(kind.name), start=1)]
        parts.append("\n".join(rows))
    return "\n\n".join(parts)


GENERATED = {
    ("settings.md", "settings"): _settings_table,
    ("api.md", "filters"): _filters_table,
    ("cli.md", "commands"): _cli_reference,
    ("export.md", "columns"): _export_columns,
}


@pytest.mark.parametrize(("file", "block"), list(GENERATED))
def test_generated_block_is_current(file: str, block: str) -> None:
    path = DOCS / file
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(
        rf"(<!-- generated:{block} -->\n)(.*?)\n?(<!-- end:{block} -->)", re.DOTALL
    )
    match = pattern.search(text)
    assert match is not None, f"{file} lacks the generated:{block} markers"
    expected = GENERATED[(file, block)]()
    if os.environ.get("UPDATE_DOCS") == "1":
        path.write_text(pattern.sub(lambda m: f"{m[1]}{expected}\n{m[3]}", text), encoding="utf-8")
    else:
        assert match[2] == expected, f"{file} is stale: run UPDATE_DOCS=1 pytest {__file__}"


def test_every_common_parameter_is_documented() -> None:
    api = (DOCS / "api.md").read_text(encoding="utf-8")
    for name in [*COMMON_PARAMETERS, *OUTPUT_PARAMETERS, "token"]:
        assert f"`{name}`" in api, name
    export = (DOCS / "export.md").read_text(encoding="utf-8")
    for name in OUTPUT_PARAMETERS:
        assert f"| `{name}` |" in export, name
    assert "(export.md)" in api  # linked from the API reference


def test_vendored_contract_is_the_published_one() -> None:
    """docs/spec/api-clientes.txt is a copy of the published contract; it must not drift."""
    if not SPEC.is_dir():
        pytest.skip(f"the published spec is not beside the repository ({SPEC})")
    published = (SPEC / "api-clientes.txt").read_bytes()
    assert (DOCS / "spec" / "api-clientes.txt").read_bytes() == published


def test_readme_gives_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


@pytest.mark.parametrize("kind", list(KINDS))
def test_packaged_examples_are_the_spec_examples(kind: str) -> None:
    """The OpenAPI examples are copies of the published ones; they must not drift."""
    if not SPEC.is_dir():
        pytest.skip(f"the published spec is not beside the repository ({SPEC})")
    published = SPEC / KINDS[kind].example_file  # packaged under the published name
    assert example_page(KINDS[kind]) == orjson.loads(published.read_bytes())
