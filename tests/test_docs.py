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
from atende_logs.storage.distribution import citus_commands

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
        rows += [f"| {n} | `{name}` |" for n, name in enumerate(header(kind), start=1)]
        parts.append("\n".join(rows))
    return "\n\n".join(parts)


def _citus_commands() -> str:
    return "```sql\n" + "\n".join(citus_commands()) + "\n```"


GENERATED = {
    ("settings.md", "settings"): _settings_table,
    ("api.md", "filters"): _filters_table,
    ("cli.md", "commands"): _cli_reference,
    ("export.md", "columns"): _export_columns,
    ("scale.md", "citus"): _citus_commands,
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


# Links into docs/ must not rot: a section cited by anchor (``api.md#rate-limits``) or by
# name (``docs/benchmarks-history.md, "The request's fixed cost"``) must be a heading of that
# file (a dated heading's date may be left out).
CITING = [*(ROOT / top for top in ("src", "bench", "tests", "docs")), ROOT / "README.md"]
ANCHOR_LINK = re.compile(r"(?<![\w/.-])((?:docs/)?[\w.-]+\.md)#([\w-]+)")
IN_PAGE_LINK = re.compile(r"\]\(#([\w-]+)\)")
# The name in quotes after the file, as comments write it: `docs/api.md, "Limits"`,
# `docs/api.md "Filters"`, `docs/api.md ("Filters")`; a comment may wrap it over two lines.
NAMED_SECTION = re.compile(r'docs/([\w-]+\.md)(?:,\s*|\s+\(?|\()"([^"\n]+(?:\n[^"\n]+)?)"')
DATED = re.compile(r"^\d{4}-\d{2}-\d{2}(?: to \d{4}-\d{2}-\d{2})?: ")
"""The history's headings open with their date; a citation may leave it out."""


def _citing_files() -> list[Path]:
    found = []
    for top in CITING:
        paths = [top] if top.is_file() else sorted(top.rglob("*"))
        found += [p for p in paths if p.suffix in (".py", ".md") and "__pycache__" not in p.parts]
    return found


def _headings(path: Path) -> list[str]:
    """The file's headings, outside fenced code (where ``#`` starts a shell comment)."""
    found, fenced = [], False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (heading := re.match(r"#{1,6} (.+?)\s*#*$", line)):
            found.append(heading[1])
    return found


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors: lower case, punctuation dropped, spaces as hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _headings(path):
        anchor = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        repeats = seen.get(anchor, 0)
        seen[anchor] = repeats + 1
        anchors.add(anchor if repeats == 0 else f"{anchor}-{repeats}")
    return anchors


def _has_section(path: Path, name: str) -> bool:
    """Whether a heading of ``path`` is ``name``, or starts with it ("Import into PostgreSQL"
    names "Import into PostgreSQL: binary COPY …"), its date left out."""
    for heading in _headings(path):
        for text in (heading, DATED.sub("", heading)):
            if text == name or (text.startswith(name) and not text[len(name)].isalnum()):
                return True
    return False


def test_every_link_to_a_section_of_the_docs_resolves() -> None:
    checked, broken = 0, []
    for path in _citing_files():
        text = path.read_text()
        links = [(m[1], m[2]) for m in ANCHOR_LINK.finditer(text)]
        if path.suffix == ".md":
            links += [(path.name, anchor) for anchor in IN_PAGE_LINK.findall(text)]
        for target, anchor in links:
            # Beside the citing file (a link between docs), else in docs/ (a code comment's).
            file = ROOT / target if target.startswith("docs/") else path.parent / target
            file = file if file.is_file() else DOCS / target
            checked += 1
            if not file.is_file() or anchor not in _anchors(file):
                broken.append(f"{path.relative_to(ROOT)}: {target}#{anchor}")
    assert not broken, "\n".join(broken)
    assert checked >= 20  # the pattern still finds the links the docs are known to hold


def test_every_section_cited_by_name_exists() -> None:
    checked, broken = 0, []
    for path in _citing_files():
        for match in NAMED_SECTION.finditer(path.read_text()):
            # A wrapped comment's second line starts with its indent and, in code, a "#".
            name = re.sub(r"\s*\n\s*(?:#\s*)?", " ", match[2])
            target = DOCS / match[1]
            checked += 1
            if not target.is_file() or not _has_section(target, name):
                broken.append(f'{path.relative_to(ROOT)}: docs/{match[1]}, "{name}"')
    assert not broken, "\n".join(broken)
    assert checked >= 8  # as above: the citations of src/ and tests/ are still seen


def test_every_docs_file_named_exists() -> None:
    named = {
        m
        for p in _citing_files()
        for m in re.findall(r"(?<![\w/])docs/([\w-]+\.md)", p.read_text())
    }
    assert "benchmarks.md" in named
    assert [name for name in sorted(named) if not (DOCS / name).is_file()] == []
