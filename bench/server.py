"""The service under test, ``atende-logs serve``, as a subprocess; its CPU time and memory.

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
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType

import httpx

from bench.common import child_env, cli_path, console

_TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
    """``atende-logs serve`` on a free port of 127.0.0.1, stopped on leaving the block."""

    def __init__(self, database_url: str, log: Path, extra: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self._extra = extra
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._url = database_url
        self._log_path = log
        self._process: subprocess.Popen[bytes] | None = None
        self.pids: list[int] = []

    def __enter__(self) -> Server:
        command = [str(cli_path()), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        command += self._extra
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                env=child_env(self._url),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own process group: stopped as one, by its id
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.pids = self._settled_tree()
        console.print(f"server: up on {self.base_url}, pids {self.pids}")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the server exited; see {self._log_path}")
            try:
                httpx.get(f"{self.base_url}/customers/cdrs/logs", timeout=2.0)
                return  # any answer (401 without a key) means it serves
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"the server did not answer within {timeout:.0f} s")

    def _settled_tree(self) -> list[int]:
        """The process tree once it stopped changing: workers may start after the first answer."""
        assert self._process is not None
        pids = tree(self._process.pid)
        for _ in range(20):
            time.sleep(0.5)
            pids, previous = tree(self._process.pid), pids
            if pids == previous:
                break
        return pids

    def live_pids(self) -> list[int]:
        """The server's process tree now (workers may have been replaced)."""
        return tree(self._process.pid) if self._process is not None else []

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        known = tree(process.pid)
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
        for pid in known[1:]:  # a worker that left the group would outlive it otherwise
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


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
