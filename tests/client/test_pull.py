"""``atende-logs pull`` end to end against a real server: every kind in every format holds
the listing paged by hand, item for item; CSV reads back with the csv module, accents and
all; Parquet columns have their types; errors are clear and leave nothing behind."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.progress import Progress
from typer.testing import CliRunner, Result

from _remote import ODD, SAO_PAULO, Doc, Remote, as_ndjson
from atende_logs.cli.main import app
from atende_logs.cli.pull import ItemRateColumn, _summary
from atende_logs.client import PullResult
from atende_logs.client.parquet import arrow_schema
from atende_logs.export.columns import cell, columns, csv_cell, flatten, header
from atende_logs.kinds import CARDS, KINDS

runner = CliRunner()
KIND_NAMES = list(KINDS)


def pull(remote: Remote, kind: str, output: Path, *extra: object, code: int = 0) -> Result:
    """The command, its key and dialer token from the environment as the docs advise."""
    args = ["pull", kind, "--url", remote.url, "-o", output, *extra]
    env = {"ATENDE_API_KEY": remote.key, "ATENDE_DIALER_TOKEN": remote.token}
    result = runner.invoke(app, [str(arg) for arg in args], env=env)
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result


@pytest.mark.parametrize("kind", KIND_NAMES)
@pytest.mark.parametrize("page_size", [1000, 23])
def test_ndjson_is_the_listing(
    remote: Remote, reference: dict[str, list[Doc]], tmp_path: Path, kind: str, page_size: int
) -> None:
    output = tmp_path / f"{kind}.ndjson"
    result = pull(remote, kind, output, "--page-size", page_size)
    # Byte for byte: one item per line, keys in the order the server sent them.
    assert output.read_bytes() == as_ndjson(reference[kind])
    assert f"wrote {len(reference[kind])} {kind} to {output}" in result.stdout
    assert [path.name for path in tmp_path.iterdir()] == [output.name]  # no state left


def _csv_rows(path: Path, delimiter: str) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.reader(file, delimiter=delimiter))


@pytest.mark.parametrize("kind", KIND_NAMES)
@pytest.mark.parametrize(
    ("options", "delimiter"),
    [((), ","), (("--delimiter", ";", "--bom"), ";"), (("--delimiter", "tab"), "\t")],
)
def test_csv_is_the_listing(
    remote: Remote,
    reference: dict[str, list[Doc]],
    tmp_path: Path,
    kind: str,
    options: tuple[str, ...],
    delimiter: str,
) -> None:
    output = tmp_path / f"{kind}.csv"
    pull(remote, kind, output, *options, "--page-size", 100)
    rows = _csv_rows(output, delimiter)
    assert rows[0] == header(KINDS[kind])
    expected = [
        [csv_cell(value) for value in flatten(KINDS[kind], item)] for item in reference[kind]
    ]
    assert rows[1:] == expected
    raw = output.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") == ("--bom" in options)
    assert raw.endswith(b"\r\n") and raw.count(b"\r\n") >= len(rows)


def test_csv_round_trips_accents_with_bom_and_semicolons(remote: Remote, tmp_path: Path) -> None:
    logs, cards = tmp_path / "logs.csv", tmp_path / "cards.csv"
    pull(remote, "attendant-logs", logs, "--bom", "--delimiter", ";")
    pull(remote, "cards", cards, "--format", "csv", "--bom", "--delimiter", ";")

    with logs.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file, delimiter=";"))
    odd = next(row for row in rows if row["id"] == "odd-1")
    assert odd["description_name"] == 'Almoço; "especial"\nsegunda linha, fim'
    assert odd["attendant.name"] == "Zé" and odd["extension_number"] == "19"
    assert orjson.loads(odd["extra"]) == {"novo": [1, "NÃO"], "attendant.ramal_extra": 7}
    assert "Almoço" in {row["description_name"] for row in rows}  # a demo lunch break
    with cards.open(encoding="utf-8-sig", newline="") as file:
        card_rows = list(csv.DictReader(file, delimiter=";"))
    assert next(iter(card_rows[0])) == "card_info_1"  # the BOM is not part of the first name
    assert "NÃO" in {row["card_info_3"] for row in card_rows}
    assert {row["token"] for row in card_rows} <= {"****************", ""}


def _instant(value: Any) -> datetime:
    """A document's time as the Parquet column must hold it (computed independently)."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=SAO_PAULO)


def _check_parquet(path: Path, kind: str, items: list[Doc]) -> list[dict[str, Any]]:
    """Every cell against its item: typed where the column is, and what does not fit its
    column's type found in ``extra``."""
    table = pq.read_table(path)
    assert table.schema.equals(arrow_schema(KINDS[kind]))
    assert table.schema.field(KINDS[kind].time_field).type == pa.timestamp("us", tz="UTC")
    rows: list[dict[str, Any]] = table.to_pylist()
    assert len(rows) == len(items)
    for row, item in zip(rows, items, strict=True):
        flat = dict(zip(header(KINDS[kind]), flatten(KINDS[kind], item), strict=True))
        extra = orjson.loads(row["extra"]) if row["extra"] is not None else {}
        assert {k: v for k, v in extra.items() if k not in columns(KINDS[kind])} == (
            flat["extra"] or {}
        )
        for name in columns(KINDS[kind]):
            value, want, type_ = row[name], flat[name], table.schema.field(name).type
            if name in extra:  # did not fit the column's type
                assert value is None and extra[name] == want
            elif want is None:
                assert value is None
            elif pa.types.is_timestamp(type_):
                assert value == _instant(want)
            elif pa.types.is_boolean(type_) or pa.types.is_integer(type_):
                assert value == want and type(value) is type(want) or value == int(want)
            else:
                assert value == cell(want)
    return rows


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_parquet_is_the_listing_typed(
    remote: Remote, reference: dict[str, list[Doc]], tmp_path: Path, kind: str
) -> None:
    output = tmp_path / f"{kind}.parquet"
    pull(remote, kind, output, "--page-size", 100)
    _check_parquet(output, kind, reference[kind])
    assert [path.name for path in tmp_path.iterdir()] == [output.name]  # no staging, no state


def test_parquet_types_of_the_odd_documents(remote: Remote, tmp_path: Path) -> None:
    pull(remote, "attendant-logs", tmp_path / "logs.parquet")
    rows = pq.read_table(tmp_path / "logs.parquet").to_pylist()
    odd = next(row for row in rows if row["id"] == "odd-1")
    assert odd["timestamp"] == datetime(2024, 3, 5, 10, tzinfo=SAO_PAULO)  # offset-less: São Paulo
    assert odd["duration"] is None and odd["allow_save"] is None
    assert odd["machine_attributes.loggedInAt"] is None
    assert odd["extension_number"] == "19" and odd["attendant.name"] == "Zé"
    assert orjson.loads(odd["extra"]) == {
        "attendant.ramal_extra": 7,
        "novo": [1, "NÃO"],
        "duration": "30",
        "machine_attributes.loggedInAt": "ontem",
        "allow_save": 1,
    }
    typical = next(row for row in rows if row["id"] != "odd-1")
    assert type(typical["duration"]) is int and type(typical["allow_save"]) is bool
    assert typical["last_machine_attributes.loggedInAt"].utcoffset() == timedelta(0)

    pull(remote, "cdrs", tmp_path / "cdrs.parquet", "--param", "call_id=odd-cdr")
    (cdr,) = pq.read_table(tmp_path / "cdrs.parquet").to_pylist()
    assert cdr["ori_start_time"] == datetime.fromtimestamp(1_709_650_000, UTC)
    assert cdr["uraduration"] == 12 and cdr["has_audio"] is None
    assert orjson.loads(cdr["extra"]) == {"has_audio": "sim"}
    assert orjson.loads(cdr["redirects"]) == ODD["cdrs"][0]["redirects"]


def test_the_format_follows_the_suffix(remote: Remote, tmp_path: Path) -> None:
    query = ("--param", "call_id=odd-cdr")
    pull(remote, "cdrs", tmp_path / "a.CSV", *query)
    assert (tmp_path / "a.CSV").read_bytes().startswith(b"callid,")
    pull(remote, "cdrs", tmp_path / "a.pq", *query)
    assert (tmp_path / "a.pq").read_bytes()[:4] == b"PAR1"
    pull(remote, "cdrs", tmp_path / "a.json", *query)
    assert orjson.loads((tmp_path / "a.json").read_bytes())["callid"] == "odd-cdr"
    pull(remote, "cdrs", tmp_path / "b.csv", *query, "--format", "ndjson")
    assert (tmp_path / "b.csv").read_bytes().startswith(b'{"callid"')


def test_an_empty_listing(remote: Remote, tmp_path: Path) -> None:
    future = ("--start-at", "2031-01-01", "--end-at", "2031-01-31")
    result = pull(remote, "cards", tmp_path / "c.ndjson", *future)
    assert (tmp_path / "c.ndjson").read_bytes() == b""
    assert "wrote 0 cards" in result.stdout
    pull(remote, "cards", tmp_path / "c.csv", *future)
    assert (tmp_path / "c.csv").read_bytes() == ",".join(header(CARDS)).encode() + b"\r\n"
    pull(remote, "cards", tmp_path / "c.parquet", *future)
    table = pq.read_table(tmp_path / "c.parquet")
    assert table.num_rows == 0 and table.schema.equals(arrow_schema(CARDS))


def test_json_summary(remote: Remote, reference: dict[str, list[Doc]], tmp_path: Path) -> None:
    result = pull(remote, "cdrs", tmp_path / "c.ndjson", "--json")
    assert orjson.loads(result.stdout) == {
        "output": str(tmp_path / "c.ndjson"),
        "items": len(reference["cdrs"]),
        "resumed_from": 0,
        "total": len(reference["cdrs"]),
    }


def test_a_refusal_is_shown_and_leaves_nothing(remote: Remote, tmp_path: Path) -> None:
    result = pull(
        remote, "cdrs", tmp_path / "c.csv", "--start-at", "2024-03-06", "--end-at", "2024-03-05",
        code=1,
    )  # fmt: skip
    assert (
        "error: the server refused the request (400 invalid_range, parameter start_at): "
        "start_at é posterior a end_at"
    ) in result.stderr
    assert "resume" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--param", "callstatus=answered"), "cdrs has no parameter 'callstatus'; accepted: "),
        (("--param", "call_status"), "'call_status' is not NAME=VALUE"),
        (("--param", "=x"), "'=x' is not NAME=VALUE"),
        (("--start-at", "1", "--param", "start_at=2"), "start_at is given twice"),
        (("--url", "ftp://host"), "must start with http:// or https://"),
        (("-o", "x.parquet", "--param", "tz=Mars/Base"), "unknown IANA time zone: 'Mars/Base'"),
    ],
)
def test_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    base = ["pull", "cdrs", "--url", "http://127.0.0.1:9", "--key", "k", "-o", "x.ndjson"]
    result = runner.invoke(app, [*base, *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.replace("│", " ").split())
    assert list(tmp_path.iterdir()) == []


def test_cards_need_a_token_and_every_pull_a_key(tmp_path: Path) -> None:
    base = ["pull", "--url", "http://127.0.0.1:9", "-o", str(tmp_path / "x")]
    no_token = {"ATENDE_DIALER_TOKEN": ""}
    result = runner.invoke(app, [*base[:1], "cards", *base[1:], "--key", "k"], env=no_token)
    assert result.exit_code == 2 and "cards need the dialer's token" in result.stderr
    result = runner.invoke(app, [*base[:1], "cdrs", *base[1:]], env={"ATENDE_API_KEY": ""})
    assert result.exit_code == 2 and "--key or in ATENDE_API_KEY" in result.stderr


def test_parquet_without_pyarrow_says_how_to_get_it(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow raises ImportError
    result = pull(remote, "cdrs", tmp_path / "c.parquet", code=1)
    assert "Parquet output needs pyarrow: pip install 'atende-logs[parquet]'" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_rate_column() -> None:
    with Progress(ItemRateColumn(), disable=True) as progress:
        task_id = progress.add_task("x", total=10)
        task = progress.tasks[0]
        assert str(ItemRateColumn().render(task)) == "? items/s"
        progress.update(task_id, completed=10)
        task.finished_speed = 1234.4
        assert str(ItemRateColumn().render(task)) == "1,234 items/s"


def test_the_summary_notes_a_count_that_changed(capsys: pytest.CaptureFixture[str]) -> None:
    _summary(PullResult(Path("x.csv"), items=10, resumed_from=4, total=12), "cdrs", json=False)
    printed = " ".join(capsys.readouterr().out.split())
    assert "wrote 10 cdrs to x.csv (4 by an earlier run)" in printed
    assert "the server now counts 12 matching items; the data changed during the pull" in printed


SERVER_MODULES = (
    "atende_logs.cli.main",
    "atende_logs.config",
    "atende_logs.storage",
    "atende_logs.http",
    "atende_logs.ingest",
    "pydantic_settings",
    "fastapi",
    "starlette",
    "sqlalchemy",
    "pyarrow",
)


@pytest.mark.parametrize("args", [["--help"], ["cdrs", "--url", "ftp://nowhere", "-o", "x"]])
def test_the_console_script_pulls_without_the_servers_modules(args: list[str]) -> None:
    # Its start-up is in every pull's time (docs/benchmarks.md, "Over a real link").
    script = (
        "import sys\n"
        "from atende_logs.cli import main\n"
        f"sys.argv = ['atende-logs', 'pull', *{args!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "print(code, *sorted(sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True,
        env={**os.environ, "ATENDE_API_KEY": "k"},
    )  # fmt: skip
    code, *modules = done.stdout.split("\n")[-2].split()
    assert code == ("0" if args == ["--help"] else "2"), done.stdout + done.stderr
    assert "atende_logs.cli.pull" in modules
    loaded = [m for m in modules if any(m == s or m.startswith(s + ".") for s in SERVER_MODULES)]
    assert loaded == []


def test_a_bad_server_setting_does_not_stop_a_pull(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATENDE_INGEST_BATCH_SIZE", "not a number")
    output = tmp_path / "cdrs.ndjson"
    pull(remote, "cdrs", output)
    assert output.stat().st_size > 0
