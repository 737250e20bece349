"""Shared fixtures: temporary git repositories, an in-process ``orch`` runner, a state home.

The runner calls ``orchestrator.cli.main.main(argv)`` in this process (fast: no interpreter
start-up per command) and captures what it writes; ``orch_proc`` runs the installed console
script in a subprocess for the tests that need real processes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# ``tests.fixtures`` must import the same way under ``pytest`` and ``python -m pytest``.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

#: The sample backlog of 20 WO files, shipped in the package (a fresh clone has them).
SAMPLES_DIR = REPO_ROOT / "orchestrator" / "samples" / "work_orders"
#: The console script installed into the venv next to the interpreter.
ORCH_SCRIPT = Path(sys.executable).with_name("orch")
#: Git needs no user configuration: identity is given on the command line, config hidden.
GIT_IDENTITY = ["-c", "user.name=t", "-c", "user.email=t@t"]
ISOLATED_GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` with a fixed identity; returns stdout (raises on failure)."""
    env = {**os.environ, **ISOLATED_GIT_ENV}
    done = subprocess.run(
        ["git", *GIT_IDENTITY, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def init_git_repo(path: Path, files: dict[str, str] | None = None, branch: str = "main") -> Path:
    """A new repository at ``path`` with one commit of ``files`` on ``branch``."""
    path.mkdir(parents=True)
    git(path, "init", "--quiet", f"--initial-branch={branch}")
    for rel, text in (files if files is not None else {"README.md": "hello\n"}).items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    git(path, "add", "-A")
    git(path, "commit", "--quiet", "-m", "initial commit")
    return path


@dataclass(frozen=True)
class Result:
    """What one ``orch`` invocation did."""

    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}--- stderr\n{self.err}"


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    return 1


def run_main(argv: list[str]) -> Result:
    """``main(argv)`` in this process with stdout/stderr captured.

    An exception that escapes ``main`` would be a traceback for a real user: it is turned
    into a result with exit status 1 and the traceback on stderr, so that tests see it.
    """
    from orchestrator.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc)
        except BaseException:
            err.write(traceback.format_exc())
            code = 1
    return Result(code, out.getvalue(), err.getvalue())


class OrchRunner:
    """``orch(...)`` against one state home; ``ok``/``json`` assert success."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def __call__(self, *args: str | Path, home: Path | None = None) -> Result:
        argv = ["--home", str(home or self.home), *map(str, args)]
        return run_main(argv)

    def ok(self, *args: str | Path, home: Path | None = None) -> Result:
        result = self(*args, home=home)
        assert result.code == 0, f"orch {' '.join(map(str, args))} failed:\n{result}"
        assert "Traceback" not in result.err, str(result)
        return result

    def json(self, *args: str | Path, home: Path | None = None) -> Any:
        return self.ok(*args, "--json", home=home).json

    def fails(self, *args: str | Path, home: Path | None = None) -> Result:
        """A bad-input invocation: exit 2, one line on stderr, no traceback."""
        result = self(*args, home=home)
        assert result.code == 2, f"orch {' '.join(map(str, args))}:\n{result}"
        assert "Traceback" not in result.out + result.err, str(result)
        assert len(result.err_lines) == 1, str(result)
        assert result.err_lines[0].startswith("orch: error: "), str(result)
        return result


def orch_subprocess(
    home: Path, *args: str | Path, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """The installed ``orch`` script in a subprocess (``--home`` given, ORCH_* unset)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(ISOLATED_GIT_ENV)
    return subprocess.run(
        [str(ORCH_SCRIPT), "--home", str(home), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@contextlib.contextmanager
def without_orch_env() -> Iterator[None]:
    """For set-up outside a test's own environment: hide ORCH_* variables meanwhile."""
    saved = {k: os.environ.pop(k) for k in [k for k in os.environ if k.startswith("ORCH_")]}
    try:
        yield
    finally:
        os.environ.update(saved)


def db_dump(home: Path) -> list[str]:
    """Every row of every table (events too) as SQL text: equal dumps, unchanged DB."""
    db = home / "state" / "orchestrator.db"
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


# ------------------------------------------------------------------------------ fixtures

from tests.support.postgres import pg_url  # noqa: E402,F401  (a fixture for every test)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ORCH_* variable of the caller's shell and no git configuration leaks into a test."""
    for key in list(os.environ):
        if key.startswith("ORCH_"):
            monkeypatch.delenv(key)
    for key, value in ISOLATED_GIT_ENV.items():
        monkeypatch.setenv(key, value)
    # Rich wraps tables at the terminal width; a wide one keeps text output on one line.
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """Factory: a git repository with one commit on ``main`` (or ``branch``)."""

    def make(
        name: str = "project",
        files: dict[str, str] | None = None,
        branch: str = "main",
    ) -> Path:
        return init_git_repo(tmp_path / "repos" / name, files, branch)

    return make


@pytest.fixture
def home_dir(tmp_path: Path) -> Path:
    """A path for a state home that does not exist yet."""
    return tmp_path / "home"


@pytest.fixture
def orch(home_dir: Path) -> OrchRunner:
    """In-process ``orch`` bound to ``home_dir`` (no ``orch init`` done)."""
    return OrchRunner(home_dir)


@pytest.fixture(scope="session")
def _home_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``orch init`` per session; ``home`` copies it (migrations take a while)."""
    template = tmp_path_factory.mktemp("template") / "home"
    with without_orch_env():
        OrchRunner(template).ok("init")
    return template


@pytest.fixture
def home(_home_template: Path, home_dir: Path) -> Path:
    """A state home with ``orch init`` done (a copy of one made once per session)."""
    shutil.copytree(_home_template, home_dir)
    return home_dir


@pytest.fixture
def project(home: Path, orch: OrchRunner, make_repo: Callable[..., Path]) -> str:
    """A project named ``demo`` (a fresh repository on ``main``) in ``home``."""
    repo = make_repo("demo")
    orch.ok("project", "add", repo)
    return "demo"


@pytest.fixture
def orch_proc(home_dir: Path) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """``orch`` as a real subprocess bound to ``home_dir``."""

    def run(*args: str | Path, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        return orch_subprocess(home_dir, *args, timeout=timeout)

    yield run
