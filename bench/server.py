"""``atende-logs serve`` as a subprocess, for the bench and the tests alike; its CPU and memory.

``Server`` is the one way this repository starts a real server: a free port of 127.0.0.1,
the environment and ``serve`` options its caller chooses, a deadline for the first answer,
its output in a log file, and a process group of its own, so that a stop or a kill -9 reaches
the supervisor and every worker and nothing else on the machine. The tests import it too
(pytest's ``pythonpath`` holds the repository root): it needs only the standard library and
httpx, and it lives here because ``tests/`` is no package that the bench could import.

CPU and memory are read from /proc for the server process and all its descendants (the
workers, if the server forks any): utime + stime from /proc/PID/stat, RssAnon from
/proc/PID/status, the tree from /proc/PID/task/*/children.

Memory is the anonymous resident set (the heap and stacks the processes allocate), not
VmRSS: SQLite reads memory-map the database, and every mapped page a query touches counts
in VmRSS although it is the kernel's page cache, shared by all processes and dropped under
pressure (a 5-million-row export showed 4.1 GB of it beside 265 MB of anonymous memory).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx

_TICK = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT_S = 60.0
"""How long a server may take to answer its first request: generous, a shared 2-core
machine is slow, never stuck."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cli_path() -> Path:
    """The ``atende-logs`` script of the interpreter running us (the project's virtualenv)."""
    beside = Path(sys.executable).with_name("atende-logs")
    if beside.exists():
        return beside
    found = shutil.which("atende-logs")
    if found is None:
        raise SystemExit("atende-logs not found: run with the project virtualenv's python")
    return Path(found)


def tree(pid: int) -> list[int]:
    """``pid`` and every live descendant of it."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        tasks = Path(f"/proc/{current}/task")
        try:
            for task in tasks.iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue  # it exited meanwhile
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of ``pids`` (processes that exited count no more)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15
    return total / _TICK


def rss_mb(pids: list[int]) -> float:
    """Sum of the anonymous resident memory (RssAnon) of ``pids``, in MB."""
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    total_kb += int(line.split()[1])
                    break
        except OSError:
            continue
    return total_kb * 1024 / 1e6


class Server:
    """``atende-logs serve`` on a free port of 127.0.0.1; started and stopped by ``with``.

    ``options`` are passed to ``serve`` as a deployment would pass them (``--root-path``,
    ``--forwarded-allow-ips``, ``--host``: 127.0.0.1 unless given); ``workers`` is
    ``--workers`` (None: the server's own default, one per core); ``env`` is laid over this
    process's environment when the object is made (None unsets a name). ``command`` replaces
    ``atende-logs serve`` with another program taking ``--port`` and ``--host``. The server
    is up once ``ready_path`` answers, whatever its status, and, with several workers, once
    its log says each one started: one that starts late would otherwise meet whatever the
    test does first (a database stopped, for one). ``start`` again after ``stop`` or
    ``kill`` serves on the same port.
    """

    def __init__(
        self,
        database_url: str,
        log: Path,
        *options: str,
        workers: int | None = 1,
        env: Mapping[str, str | None] | None = None,
        command: Sequence[str] | None = None,
        ready_path: str = "/healthz",
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._ready_url = self.url + ready_path
        # One process answering is the app started; several must each say so in the log.
        self._workers_to_log = workers if workers is not None and workers > 1 else 0
        merged = {**os.environ, **(env or {}), "ATENDE_DATABASE_URL": database_url}
        self._env = {name: value for name, value in merged.items() if value is not None}
        argv = [*(command or (str(cli_path()), "serve")), "--port", str(self.port)]
        if workers is not None:
            argv += ["--workers", str(workers)]
        if "--host" not in options:
            argv += ["--host", "127.0.0.1"]
        self._argv = [*argv, *options]
        self._process: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """The server's own process: the supervisor, when it has workers."""
        assert self._process is not None, "the server is not running"
        return self._process.pid

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Start it and wait until it answers; fail with its log's end if it exits or stays
        silent for ``timeout_s``."""
        with self.log.open("ab") as output:
            self._log_start = output.tell()  # a restart's lines follow the last run's
            self._process = subprocess.Popen(
                self._argv,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,  # its own process group: stopped as one, by its id
            )
        try:
            self._wait_ready(self._process, timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, process: subprocess.Popen[bytes], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited; its log ends:\n{self.tail()}")
            if self._answers() and self._workers_started():
                return
            time.sleep(0.05)
        raise RuntimeError(
            f"not up within {timeout_s:.0f} s; the server's log ends:\n{self.tail()}"
        )

    def _answers(self) -> bool:
        try:
            httpx.get(self._ready_url, timeout=1.0)
        except httpx.TransportError:
            return False
        return True  # any answer means it serves

    def _workers_started(self) -> bool:
        """Whether every worker's app has started, as uvicorn logs it, since ``start``."""
        if not self._workers_to_log:
            return True
        with self.log.open("rb") as log:
            log.seek(self._log_start)
            return log.read().count(b"Application startup complete.") >= self._workers_to_log

    def tail(self) -> str:
        """The end of the server's log, for a failure's message."""
        return self.log.read_text(errors="replace")[-3000:]

    def live_pids(self) -> list[int]:
        """The server's process tree now (workers may have been replaced)."""
        return tree(self._process.pid) if self._process is not None else []

    def settled_pids(self) -> list[int]:
        """The process tree once it stopped changing: workers may start after the first answer."""
        pids = self.live_pids()
        for _ in range(20):
            time.sleep(0.5)
            pids, previous = self.live_pids(), pids
            if pids == previous:
                break
        return pids

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM, as a deployment stops it (the supervisor stops its workers); whatever of
        its group is left after ``grace_s`` is killed."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        _kill_group(process, grace_s)

    def kill(self) -> None:
        """kill -9 of the server and every worker at once: no shutdown, connections cut."""
        process, self._process = self._process, None
        assert process is not None, "the server is not running"
        _kill_group(process, grace_s=10.0)


def _kill_group(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGKILL to ``process``'s group, then wait until none of it is left holding the port
    (workers are reaped by init, not by us)."""
    group = process.pid
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=grace_s)
    deadline = time.monotonic() + grace_s
    while _group_alive(group) and time.monotonic() < deadline:
        time.sleep(0.02)


def _group_alive(group: int) -> bool:
    """Whether a process of ``group`` still runs (zombies waiting for init do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # Fields after the command name, which sits in parentheses: state ppid pgrp.
            state, _, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue
        if int(pgrp) == group and state != "Z":
            return True
    return False


class RssSampler:
    """Samples the server tree's anonymous RSS every 100 ms; ``peak`` is the highest seen."""

    def __init__(self, server: Server, interval: float = 0.1) -> None:
        self._server = server
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.samples: list[float] = []

    @property
    def peak(self) -> float:
        return max(self.samples, default=0.0)

    def growth(self) -> tuple[float, float]:
        """Peak RSS over the first and over the last tenth of the samples: flat or growing."""
        tenth = max(1, len(self.samples) // 10)
        return max(self.samples[:tenth], default=0.0), max(self.samples[-tenth:], default=0.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(rss_mb(self._server.live_pids()))
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
