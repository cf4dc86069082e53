"""The data set: NDJSON files drawn from the demo generator, reused while their recipe holds.

One big customer holds most rows of each kind over 16 months; the small customers hold
rows // SMALL_SHARE each over the same period. Files live in ``WORKDIR/data-ROWS`` with a
``manifest.json`` written last: a directory whose manifest matches the recipe is reused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from atende_logs import demo_documents
from bench.common import (
    BIG,
    DAYS,
    SMALL,
    SMALL_ATTENDANTS,
    SMALL_SHARE,
    START,
    big_attendants,
    console,
    mb,
)

RECIPE_VERSION = 2
"""Bump when the files a recipe gives change, so old directories are not reused."""


@dataclass(frozen=True)
class DataFile:
    kind: str
    path: Path
    docs: int
    bytes: int


@dataclass(frozen=True)
class CustomerData:
    name: str
    files: dict[str, DataFile]


@dataclass(frozen=True)
class _Recipe:
    name: str
    rows: int
    attendants: int
    seed: int
    id_offset: int

    def plan(self) -> demo_documents.DemoPlan:
        return demo_documents.DemoPlan(
            start=START,
            days=DAYS,
            attendants=self.attendants,
            attendant_logs=self.rows,
            cdrs=self.rows,
            cards=0,
            seed=self.seed,
        )


def recipes(rows: int) -> list[_Recipe]:
    """Who gets how many documents of each kind, for ``rows`` documents per kind in all."""
    small = rows // SMALL_SHARE
    big = rows - small * len(SMALL)
    if small < 1:
        raise SystemExit(f"--rows {rows} is too small: use at least {SMALL_SHARE}")
    return [_Recipe(BIG, big, big_attendants(rows), 7, 0)] + [
        _Recipe(name, small, SMALL_ATTENDANTS, 7 + i, i * 10**9)
        for i, name in enumerate(SMALL, start=1)
    ]


def _documents(recipe: _Recipe, kind: str) -> Iterator[dict[str, Any]]:
    if kind == "attendant-logs":
        return demo_documents.attendant_logs(recipe.plan(), recipe.id_offset)
    return demo_documents.cdrs(recipe.plan(), recipe.id_offset)


def _write(path: Path, docs: Iterator[dict[str, Any]]) -> tuple[int, int]:
    count = size = 0
    partial = path.with_suffix(".partial")
    with partial.open("wb", buffering=1 << 20) as out:
        for doc in docs:
            line = orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)
            out.write(line)
            count += 1
            size += len(line)
    partial.rename(path)
    return count, size


def ensure_data(workdir: Path, rows: int, kind: str) -> list[CustomerData]:
    """The files of ``kind`` for ``rows``, generated unless matching ones are on disk.

    Each kind has its own manifest, so a run that deletes one kind's files after loading
    them (``--drop-data``) never holds both kinds on disk at once.
    """
    folder = workdir / f"data-{rows}"
    manifest = folder / f"manifest-{kind}.json"
    wanted = {
        "version": RECIPE_VERSION,
        "kind": kind,
        "start": START.isoformat(),
        "days": DAYS,
        "recipes": [asdict(r) for r in recipes(rows)],
    }
    if manifest.exists():
        stored = json.loads(manifest.read_text())
        if stored["recipe"] == wanted:
            console.print(f"data: reusing the {kind} files of {folder}")
            return _from_manifest(folder, stored["customers"])
    folder.mkdir(parents=True, exist_ok=True)
    manifest.unlink(missing_ok=True)
    customers: list[dict[str, Any]] = []
    for recipe in recipes(rows):
        name = f"{recipe.name.replace(' ', '-')}-{kind}.ndjson"
        with console.status(f"data: generating {name} ({recipe.rows:,} documents)"):
            count, size = _write(folder / name, _documents(recipe, kind))
        console.print(f"data: wrote {name}: {count:,} documents, {mb(size):,.1f} MB")
        files = {kind: {"file": name, "docs": count, "bytes": size}}
        customers.append({"name": recipe.name, "files": files})
    manifest.write_text(json.dumps({"recipe": wanted, "customers": customers}, indent=2))
    return _from_manifest(folder, customers)


def drop_data(workdir: Path, rows: int, kind: str) -> None:
    """Delete the files of ``kind`` (and the slices cut from them) once they are loaded."""
    folder = workdir / f"data-{rows}"
    (folder / f"manifest-{kind}.json").unlink(missing_ok=True)
    for path in folder.glob(f"*{kind}*.ndjson"):
        path.unlink()
    console.print(f"data: deleted the {kind} files of {folder} (--drop-data)")


def _from_manifest(folder: Path, customers: list[dict[str, Any]]) -> list[CustomerData]:
    return [
        CustomerData(
            c["name"],
            {
                kind: DataFile(kind, folder / f["file"], f["docs"], f["bytes"])
                for kind, f in c["files"].items()
            },
        )
        for c in customers
    ]


def head(source: DataFile, docs: int, target: Path) -> DataFile:
    """The first ``docs`` lines of ``source`` as a file of their own (made once)."""
    if not target.exists():
        partial = target.with_suffix(".partial")
        with source.path.open("rb") as lines, partial.open("wb") as out:
            for _, line in zip(range(docs), lines, strict=False):
                out.write(line)
        partial.rename(target)
    with target.open("rb") as lines:
        count = sum(1 for _ in lines)
    return DataFile(source.kind, target, count, target.stat().st_size)


def batches(source: DataFile, size: int) -> Iterator[bytes]:
    """The file's lines, ``size`` at a time, as NDJSON bodies."""
    chunk: list[bytes] = []
    with source.path.open("rb") as lines:
        for line in lines:
            chunk.append(line)
            if len(chunk) == size:
                yield b"".join(chunk)
                chunk.clear()
    if chunk:
        yield b"".join(chunk)
