"""Resuming: a pull interrupted anywhere, by a crash of the client (simulated at every step
of the write order, and a real kill -9) or of the server (kill -9, then back), ends with
every item exactly once; a state that does not match the arguments is refused."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import atende_logs.client.pull as pull_module
from _remote import Doc, Fault, FaultProxy, Remote, as_ndjson
from atende_logs.cli.main import app
from atende_logs.client import (
    LogsClient,
    Output,
    Pull,
    PullError,
    PullState,
    StateMismatchError,
    pull_to_file,
)
from atende_logs.client.state import state_path
from atende_logs.export.encoders import CsvEncoder
from atende_logs.kinds import CARDS, KINDS
from bench.server import cli_path

runner = CliRunner()
FORMATS = [Output("ndjson"), Output("csv", ";", True), Output("parquet")]
SUFFIXES = {"ndjson": "ndjson", "csv": "csv", "parquet": "parquet"}


class Crash(BaseException):
    """A simulated kill -9: nothing after it runs, no clean-up of ours."""


CRASH_POINTS = ("mid-append", "after-append", "mid-state", "after-state", "mid-convert")


@contextmanager
def crashing(point: str, at: int) -> Iterator[None]:
    """Crash at ``point`` of the ``at``-th append or state save (the first of each is the
    file's head and the fresh state, before any page)."""
    real_append, real_save = pull_module._append, pull_module.save_state
    calls = {"append": 0, "save": 0}

    def append(file: Any, data: bytes) -> None:
        calls["append"] += 1
        if calls["append"] == at and point == "mid-append":
            file.write(data[: len(data) // 2])
            raise Crash
        real_append(file, data)
        if calls["append"] == at and point == "after-append":
            raise Crash

    def save(path: Path, state: PullState) -> None:
        calls["save"] += 1
        if calls["save"] == at and point == "mid-state":
            path.with_name(path.name + ".tmp").write_bytes(state.to_json()[:25])
            raise Crash
        real_save(path, state)
        if calls["save"] == at and point == "after-state":
            raise Crash

    def convert(lines: Any, destination: Path, *args: Any) -> int:
        destination.write_bytes(b"PAR1 half a file")
        raise Crash

    with ExitStack() as patches:
        patches.enter_context(mock.patch.object(pull_module, "_append", append))
        patches.enter_context(mock.patch.object(pull_module, "save_state", save))
        if point == "mid-convert":
            patches.enter_context(mock.patch.object(pull_module.parquet, "write_parquet", convert))
        yield


def _try(
    client: LogsClient,
    kind: str,
    params: dict[str, str],
    output: Path,
    fmt: Output,
    size: int,
) -> bool:
    """One run that may crash; True when it finished."""
    try:
        pull = Pull.open(client, kind, params, output, fmt)
    except Crash:
        return False
    try:
        for _ in pull.run(size):
            pass
        pull.finish()
        return True
    except Crash:
        pull.close()  # what the kernel does for a dead process: the descriptor closes
        return False


@pytest.fixture(scope="session")
def clean(remote: Remote, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., bytes]:
    """An uninterrupted pull's output, per kind and format, for comparison."""
    cache: dict[tuple[str, Output], bytes] = {}

    def made(kind: str, fmt: Output) -> bytes:
        if (kind, fmt) not in cache:
            output = tmp_path_factory.mktemp("clean") / f"{kind}.{SUFFIXES[fmt.format]}"
            with LogsClient(remote.url, remote.key) as client:
                pull_to_file(client, kind, remote.params(kind), output, fmt)
            cache[(kind, fmt)] = output.read_bytes()
        return cache[(kind, fmt)]

    return made


def _same_output(output: Path, expected: bytes, fmt: Output) -> None:
    if fmt.format != "parquet":
        assert output.read_bytes() == expected
        return
    clean_copy = output.with_name("clean.parquet")
    clean_copy.write_bytes(expected)
    assert pq.read_table(output).to_pylist() == pq.read_table(clean_copy).to_pylist()
    clean_copy.unlink()


@settings(max_examples=12)
@given(
    kind=st.sampled_from(list(KINDS)),
    fmt=st.sampled_from(FORMATS),
    size=st.integers(15, 80),
    point=st.sampled_from(CRASH_POINTS),
    at=st.integers(1, 8),
)
def test_a_crash_at_any_step_resumes_to_every_item_once(
    remote: Remote,
    clean: Callable[..., bytes],
    tmp_path_factory: pytest.TempPathFactory,
    kind: str,
    fmt: Output,
    size: int,
    point: str,
    at: int,
) -> None:
    output = tmp_path_factory.mktemp("crash") / f"{kind}.{SUFFIXES[fmt.format]}"
    params = remote.params(kind)
    with LogsClient(remote.url, remote.key) as client:
        with crashing(point, at):
            finished = _try(client, kind, params, output, fmt, size)
        if not finished:
            result = pull_to_file(client, kind, params, output, fmt, size=size)
            assert result.items == result.total
    _same_output(output, clean(kind, fmt), fmt)
    assert [path.name for path in output.parent.iterdir()] == [output.name]


def _wait_for_items(state: Path, at_least: int, process: subprocess.Popen[bytes]) -> None:
    """Until the state records ``at_least`` items (the pull is then that far at least)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if orjson.loads(state.read_bytes())["items"] >= at_least:
                return
        except (FileNotFoundError, orjson.JSONDecodeError):
            pass
        time.sleep(0.001)
    stderr = process.stderr.read() if process.stderr and process.poll() is not None else b""
    raise AssertionError(f"the pull never reached {at_least} items: {stderr!r}")


def _command(remote: Remote, kind: str, output: Path, *extra: str) -> list[str]:
    return [str(cli_path()), "pull", kind, "--url", remote.url, "-o", str(output), *extra]


def _secrets(remote: Remote) -> dict[str, str]:
    """The key and the dialer token, in the environment as the docs advise."""
    return {"ATENDE_API_KEY": remote.key, "ATENDE_DIALER_TOKEN": remote.token}


def _spawn(args: list[str], remote: Remote) -> subprocess.Popen[bytes]:
    env = {**os.environ, **_secrets(remote)}
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("compress", ["--compress", "--no-compress"])
@settings(max_examples=2)
@given(
    kind=st.sampled_from(list(KINDS)),
    fmt=st.sampled_from(FORMATS),
    fraction=st.floats(0, 0.6),
    seed=st.integers(0, 2**16),
)
def test_kill_9_of_the_client_then_the_same_command(
    remote: Remote,
    reference: dict[str, list[Doc]],
    clean: Callable[..., bytes],
    tmp_path_factory: pytest.TempPathFactory,
    kind: str,
    fmt: Output,
    fraction: float,
    seed: int,
    compress: str,
) -> None:
    output = tmp_path_factory.mktemp("kill") / f"{kind}.{SUFFIXES[fmt.format]}"
    options = ["--page-size", "5", "--delimiter", ";", "--bom"] if fmt.format == "csv" else []
    args = _command(remote, kind, output, compress, *(options or ["--page-size", "5"]))
    process = _spawn(args, remote)
    at_least = int(fraction * len(reference[kind]))
    if at_least:
        _wait_for_items(state_path(output), at_least, process)
    time.sleep(random.Random(seed).uniform(0, 0.01 if at_least else 0.8))
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    if at_least:
        assert process.returncode == -signal.SIGKILL, "the pull ended before it was killed"
    # The same command again (in this process: only the kill needed a process of its own).
    again = runner.invoke(app, args[1:], env=_secrets(remote))
    assert again.exit_code == 0, again.output
    _same_output(output, clean(kind, fmt), fmt)
    assert [path.name for path in output.parent.iterdir()] == [output.name]


@pytest.mark.parametrize("compress", ["--compress", "--no-compress"])
def test_kill_9_of_the_server_mid_pull(
    own_server: Remote, reference: dict[str, list[Doc]], tmp_path: Path, compress: str
) -> None:
    output = tmp_path / "cdrs.ndjson"
    args = _command(own_server, "cdrs", output, compress, "--page-size", "5", "--backoff", "0.05")
    process = _spawn([*args, "--max-backoff", "0.2", "--retries", "200"], own_server)
    try:
        _wait_for_items(state_path(output), 60, process)
        process.send_signal(signal.SIGSTOP)  # so that it cannot finish before the server dies
        own_server.server.kill()
        process.send_signal(signal.SIGCONT)
        time.sleep(0.5)  # the client meets a dead server for a while
        own_server.server.start()  # on the same port
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()  # a no-op when it ended; never left running when the test fails
    assert process.returncode == 0, stderr
    assert b"retrying in" in stderr
    assert output.read_bytes() == as_ndjson(reference["cdrs"])
    assert not state_path(output).exists()


def _interrupted_pull(remote: Remote, output: Path, pages: int, **params: str) -> PullState:
    """A pull of cdrs stopped after ``pages`` pages of 10, as a crash would leave it."""
    with LogsClient(remote.url, remote.key) as client:
        pull = Pull.open(client, "cdrs", params, output)
        states = pull.run(10)
        for _ in range(pages):
            state = next(states)
        pull.close()
    return state


def test_the_state_holds_where_the_pull_stands_and_no_secret(
    remote: Remote, reference: dict[str, list[Doc]], tmp_path: Path
) -> None:
    output = tmp_path / "cards.csv"
    with LogsClient(remote.url, remote.key) as client:
        pull = Pull.open(client, "cards", remote.params("cards"), output, Output("csv"))
        state = next(pull.run(25))
        pull.close()
    text = state_path(output).read_text()
    assert remote.key not in text and remote.token not in text
    saved = orjson.loads(text)
    assert saved["pull"] == {
        "url": remote.url,
        "kind": "cards",
        "params": [["token", "****************"]],
        "format": "csv",
        "delimiter": ",",
        "bom": False,
        "formulas": "escape",
    }
    assert saved["items"] == 25 == state.items
    assert saved["bytes"] == output.stat().st_size
    assert saved["after"] == state.after is not None
    assert saved["total"] == len(reference["cards"])
    assert len(saved["fingerprint"]) == 64
    encoder = CsvEncoder(CARDS)
    assert output.read_bytes() == encoder.head() + encoder.encode_items(reference["cards"][:25])


def test_resuming_drops_what_the_state_does_not_know(
    remote: Remote, reference: dict[str, list[Doc]], tmp_path: Path
) -> None:
    output = tmp_path / "cdrs.ndjson"
    _interrupted_pull(remote, output, 3)
    with output.open("ab") as file:
        file.write(b'{"half a page": ')  # what a crash between write and state leaves
    result = runner.invoke(
        app, ["pull", "cdrs", "--url", remote.url, "--key", remote.key, "-o", str(output)]
    )
    assert result.exit_code == 0, result.output
    assert "resuming after 30 items already in" in result.stderr
    assert f"({30} by an earlier run)" in result.stdout
    assert output.read_bytes() == as_ndjson(reference["cdrs"])


def test_a_different_pull_is_refused_until_restart(
    remote: Remote, reference: dict[str, list[Doc]], tmp_path: Path
) -> None:
    output = tmp_path / "cdrs.ndjson"
    _interrupted_pull(remote, output, 2, start_at="2024-03-04")
    base = ["pull", "cdrs", "--url", remote.url, "--key", remote.key, "-o", str(output)]
    result = runner.invoke(app, [*base, "--start-at", "2024-03-05"])
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "belongs to another pull into this file (cdrs from " in message
    assert "with start_at=2024-03-04, format ndjson), 20 items in" in message
    assert "add --restart" in message
    result = runner.invoke(app, [*base, "--format", "csv", "--start-at", "2024-03-04"])
    assert result.exit_code == 1  # another format writes other bytes: another pull
    # Another page size is the same pull: it resumes.
    result = runner.invoke(app, [*base, "--start-at", "2024-03-04", "--page-size", "7"])
    assert result.exit_code == 0 and "resuming after 20 items" in result.stderr
    _interrupted_pull(remote, output, 2, start_at="2024-03-04")
    result = runner.invoke(app, [*base, "--restart"])
    assert result.exit_code == 0, result.output
    assert output.read_bytes() == as_ndjson(reference["cdrs"])
    assert not state_path(output).exists()


def test_a_pull_that_wrote_nothing_gives_way(remote: Remote, tmp_path: Path) -> None:
    output = tmp_path / "cdrs.ndjson"
    with LogsClient(remote.url, remote.key) as client:
        Pull.open(client, "cdrs", {"start_at": "2024-03-04"}, output).close()
        assert orjson.loads(state_path(output).read_bytes())["items"] == 0
        pages: list[PullState] = []
        result = pull_to_file(client, "cdrs", {"call_id": "odd-cdr"}, output, on_page=pages.append)
    assert result.items == 1 and result.resumed_from == 0
    assert [(state.items, state.total) for state in pages] == [(1, 1)]


def test_outputs_that_cannot_be_resumed(remote: Remote, tmp_path: Path) -> None:
    output = tmp_path / "cdrs.ndjson"
    _interrupted_pull(remote, output, 2)
    with LogsClient(remote.url, remote.key) as client:
        with pytest.raises(PullError, match="another pull is writing"):
            with Pull.open(client, "cdrs", {}, output):
                Pull.open(client, "cdrs", {}, output)
        os.truncate(output, 100)
        with pytest.raises(PullError, match=r"shorter than its pull state says \(100 < "):
            Pull.open(client, "cdrs", {}, output)
        output.unlink()
        with pytest.raises(PullError, match="cdrs.ndjson is gone; add --restart"):
            Pull.open(client, "cdrs", {}, output)
        state_path(output).write_text('{"version": 1, "fingerprint": "x"}')
        with pytest.raises(PullError, match="is not a pull state"):
            Pull.open(client, "cdrs", {}, output)
        assert pull_to_file(client, "cdrs", {"call_id": "odd-cdr"}, output, restart=True).items
    _interrupted_pull(remote, output, 1)
    with LogsClient(remote.url, remote.key) as client, pytest.raises(StateMismatchError):
        Pull.open(client, "cdrs", {"call_id": "odd-cdr"}, output)


def test_ctrl_c_keeps_what_was_pulled(
    remote: Remote, reference: dict[str, list[Doc]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(notice: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("atende_logs.cli.pull.show_retry", interrupt)
    output = tmp_path / "cdrs.ndjson"
    with FaultProxy(remote.url, {4: Fault(503)}) as proxy:
        args = ["pull", "cdrs", "--url", proxy.url, "--key", remote.key, "-o", str(output)]
        result = runner.invoke(app, [*args, "--page-size", "50"])
        assert result.exit_code == 130
        assert "interrupted: run the same command again to resume" in result.stderr
        assert orjson.loads(state_path(output).read_bytes())["items"] == 150
        monkeypatch.undo()
        result = runner.invoke(app, [*args, "--page-size", "50"])
    assert result.exit_code == 0 and output.read_bytes() == as_ndjson(reference["cdrs"])
