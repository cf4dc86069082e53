"""Build the sdist and the wheel, install the wheel into a fresh virtualenv outside the source
tree, and serve from it, as a deployment does (issue 15: an editable install hides a file
missing from the wheel). Stops at the first failure and says what failed.

    .venv/bin/python scripts/wheel_smoke.py     # or: make smoke-wheel

It runs on SQLite, and also on PostgreSQL when ATENDE_TEST_DATABASE_URL names one (in a
schema of its own, dropped at the end). This script only drives: the server is started by
``bench.server.Server``, the repository's one way to start a real server, with the wheel's
``atende-logs`` as its command. Everything it tests runs from the installed wheel, in a
temporary directory and an environment without PYTHONPATH or ATENDE_* settings, so nothing
comes from src/.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a file, ``python scripts/wheel_smoke.py``: for bench/

from bench.server import Server  # noqa: E402  (after the path it is found on)

PACKAGE = "atende_logs"
SEARCH_PATHS = (
    "/customers/attendants/logs",
    "/customers/cdrs/logs",
    "/customers/dialer-queue/cards",
)
START_DEADLINE = 120.0  # seconds; a loaded two-core machine can take a while to import and bind


class SmokeError(Exception):
    """What failed, for the one line the script exits with."""


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="atende-wheel-smoke-") as tmp:
        work = Path(tmp)
        source = copy_source(work / "source")
        wheel = build(source, work / "dist")
        check_wheel_contents(source, wheel)
        venv = install(wheel, work / "venv", work)
        smoke(venv, work, "sqlite", f"sqlite:///{work / 'smoke.db'}")
        postgres = os.environ.get("ATENDE_TEST_DATABASE_URL")
        if postgres:
            with postgres_schema(venv, work, postgres) as url:
                smoke(venv, work, "postgresql", url)
        else:
            say("ATENDE_TEST_DATABASE_URL is not set: PostgreSQL not tried")
    say("passed")


def say(message: str) -> None:
    print(f"wheel smoke: {message}", flush=True)


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run one command; its standard output, or a SmokeError with everything it printed."""
    done = subprocess.run(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SmokeError(
            f"{' '.join(command)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


def source_files() -> list[Path]:
    """The files of a fresh clone plus uncommitted work: tracked or new, never ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if listed.returncode != 0:
        raise SmokeError(f"git ls-files failed in {ROOT}: {listed.stderr}")
    return [Path(name) for name in listed.stdout.split("\0") if (ROOT / name).is_file()]


def copy_source(dest: Path) -> Path:
    """The source tree as a fresh clone has it. The working tree's own build leftovers (an
    egg-info's SOURCES.txt above all) would feed files into the sdist that a clone lacks."""
    for path in source_files():
        (dest / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, dest / path)
    return dest


def build(source: Path, dist: Path) -> Path:
    """The sdist, then the wheel built from that sdist (so the sdist must be complete)."""
    say("building the sdist and the wheel")
    # No isolation: the build backend is the locked, hash-checked one of this virtualenv.
    run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)],
        source,
    )
    wheels = sorted(dist.glob("*.whl"))
    if len(wheels) != 1 or len(list(dist.glob("*.tar.gz"))) != 1:
        raise SmokeError(f"expected one wheel and one sdist in {dist}: {os.listdir(dist)}")
    return wheels[0]


def check_wheel_contents(source: Path, wheel: Path) -> None:
    """Each file under src/atende_logs (modules, examples, migrations, py.typed) is shipped."""
    package = source / "src"
    expected = {
        path.relative_to(package).as_posix()
        for path in (package / PACKAGE).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    missing = sorted(expected - shipped)
    if missing:
        raise SmokeError(f"{wheel.name} lacks {len(missing)} package files: {missing}")


def install(wheel: Path, venv: Path, work: Path) -> Path:
    """A fresh virtualenv with the locked runtime dependencies and the wheel, nothing else."""
    say(f"installing {wheel.name} into a fresh virtualenv")
    run([sys.executable, "-m", "venv", str(venv)], work)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--quiet", "--disable-pip-version-check"]
    lock = str(ROOT / "requirements.lock")
    run([*pip, "install", "--require-hashes", "--no-deps", "-r", lock], work)
    run([*pip, "install", "--no-deps", str(wheel)], work)
    run([*pip, "check"], work)
    where = run(
        [str(venv / "bin" / "python"), "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"],
        work,
        clean_env(),
    )
    if not Path(where.strip()).is_relative_to(venv):
        raise SmokeError(f"{PACKAGE} was imported from {where.strip()}, not from the wheel")
    return venv


def _leaks_source(name: str) -> bool:
    """Whether an environment variable could point Python back at the source tree, or set
    the app up otherwise than the smoke says."""
    return name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") or name.startswith("ATENDE_")


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without what could point Python back at the source tree."""
    env = {name: value for name, value in os.environ.items() if not _leaks_source(name)}
    return {**env, **settings}


def smoke(venv: Path, work: Path, name: str, database_url: str) -> None:
    """db upgrade, demo, serve; then one search of each kind and the OpenAPI document."""
    say(f"{name}: db upgrade, demo, serve")
    cli = str(venv / "bin" / "atende-logs")
    env = clean_env(ATENDE_DATABASE_URL=database_url)
    run([cli, "db", "upgrade"], work, env)
    # Made before demo runs, which needs the URL the server will answer on (a free port).
    server = Server(
        database_url,
        work / f"serve-{name}.log",
        env={variable: None for variable in os.environ if _leaks_source(variable)},
        command=[cli, "serve"],
        ready_path="/readyz",
    )
    demo = json.loads(run([cli, "demo", "--json", "--url", server.url], work, env))
    loaded = demo["loaded"] if isinstance(demo, dict) else {}
    if len(loaded) != len(SEARCH_PATHS) or not all(count > 0 for count in loaded.values()):
        raise SmokeError(f"{name}: demo did not load each kind: {demo}")
    with serving(server, work):
        wait_ready(server.url)
        for example in demo["examples"]:
            check_page(name, example, demo["key"])
        check_openapi(name, server.url)
    say(f"{name}: every request answered as it should")


@contextmanager
def serving(server: Server, work: Path) -> Iterator[None]:
    """The server up, from ``work`` as its directory; its log shown with any failure."""
    try:
        with contextlib.chdir(work):  # Server has no cwd of its own: its process inherits ours
            server.start(timeout_s=START_DEADLINE)
    except RuntimeError as exc:  # it exited, or did not answer in time: the message says
        raise SmokeError(str(exc)) from exc
    try:
        yield
    except SmokeError as exc:
        raise SmokeError(f"{exc}\n--- server log ---\n{server.tail()}") from exc
    finally:
        server.stop()


def wait_ready(base: str) -> None:
    """Wait until /readyz answers 200 (database reachable, schema current): the server
    answers already, but its first answers may still find the database starting."""
    deadline = time.monotonic() + START_DEADLINE
    while True:
        try:
            status, _ = get(f"{base}/readyz")
        except OSError as exc:  # it answered before, so it went away
            raise SmokeError(f"/readyz: {exc}") from exc
        if status == 200:
            return
        if time.monotonic() > deadline:
            raise SmokeError(f"/readyz answered {status}, not 200, for {START_DEADLINE:.0f} s")
        time.sleep(0.2)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def check_page(name: str, url: str, key: str) -> None:
    status, body = get(url, {"x-api-key": key})
    page: Any = json.loads(body) if status == 200 else None
    if status != 200 or sorted(page) != ["after", "items", "total"] or not page["items"]:
        raise SmokeError(f"{name}: GET {url} answered {status}: {body[:500]!r}")
    if page["total"] < len(page["items"]):
        raise SmokeError(f"{name}: GET {url}: total {page['total']} < {len(page['items'])} items")


def check_openapi(name: str, base: str) -> None:
    status, body = get(f"{base}/openapi.json")
    paths = json.loads(body).get("paths", {}) if status == 200 else {}
    missing = [path for path in SEARCH_PATHS if path not in paths]
    if status != 200 or missing:
        raise SmokeError(f"{name}: /openapi.json answered {status}, lacking {missing}")


@contextmanager
def postgres_schema(venv: Path, work: Path, url: str) -> Iterator[str]:
    """A schema of this run's own on the PostgreSQL at ``url``; dropped at the end."""
    schema = f"wheel_smoke_{uuid.uuid4().hex[:8]}"
    python = str(venv / "bin" / "python")
    execute = (
        "import psycopg, sys; psycopg.connect(sys.argv[1], autocommit=True).execute(sys.argv[2])"
    )
    run([python, "-c", execute, url, f"CREATE SCHEMA {schema}"], work, clean_env())
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        run([python, "-c", execute, url, f"DROP SCHEMA {schema} CASCADE"], work, clean_env())


if __name__ == "__main__":
    started = time.monotonic()
    try:
        main()
    except SmokeError as exc:
        print(f"wheel smoke FAILED: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    say(f"took {time.monotonic() - started:.0f} s")
