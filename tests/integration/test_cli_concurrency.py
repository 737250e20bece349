"""Two processes writing through the CLI at once lose no row and never see "database is locked"."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ISOLATED_GIT_ENV, REPO_ROOT, OrchRunner

pytestmark = pytest.mark.integration

#: Calls ``main`` in a loop, as ``orch`` would be called from a shell loop, minus the
#: interpreter start-up per call. Every call opens and closes its own engine, as a real
#: ``orch`` process does.
DRIVER = textwrap.dedent(
    """
    import sys
    from orchestrator.cli.main import main

    home, mode, tag, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    failed = 0
    for i in range(count):
        if mode == "write":
            argv = ["--home", home, "wo", "add", "--project", "demo", "--title", f"{tag}-{i}"]
        else:
            argv = ["--home", home, *(["wo", "list"] if i % 2 else ["status"]), "--json"]
        try:
            main(argv)
        except SystemExit as exc:
            if exc.code:
                failed += 1
                print(f"{tag}-{i}: exit {exc.code}", file=sys.stderr)
    print(f"{tag}: {failed} failed", file=sys.stderr)
    sys.exit(1 if failed else 0)
    """
)


def spawn(home: Path, mode: str, tag: str, count: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(ISOLATED_GIT_ENV)
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(home), mode, tag, str(count)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.timeout(240)
def test_two_writers_lose_no_row(orch: OrchRunner, project: str) -> None:
    per_process = 200
    writers = [spawn(orch.home, "write", tag, per_process) for tag in ("a", "b")]
    reader = spawn(orch.home, "read", "r", 40)
    outputs = []
    for proc in [*writers, reader]:
        out, err = proc.communicate(timeout=220)
        outputs.append((proc.returncode, out, err))
    for code, out, err in outputs:
        text = out + err
        assert "database is locked" not in text.lower(), err[-2000:]
        assert "Traceback" not in text, err[-2000:]
        assert code == 0, err[-2000:]

    rows = orch.json("wo", "list")
    assert len(rows) == 2 * per_process
    assert len({r["id"] for r in rows}) == 2 * per_process
    titles = {r["title"] for r in rows}
    assert titles == {f"{tag}-{i}" for tag in ("a", "b") for i in range(per_process)}
    # Ids come from one counter: 001 .. 400 with no gap and no repeat.
    numbers = sorted(int(r["id"].rsplit("-", 1)[1]) for r in rows)
    assert numbers == list(range(1, 2 * per_process + 1))
    # Each writer's WOs got increasing ids (writes are serialized, not reordered).
    by_title = {r["title"]: r["id"] for r in rows}
    for tag in ("a", "b"):
        ids = [by_title[f"{tag}-{i}"] for i in range(per_process)]
        assert ids == sorted(ids)

    conn = sqlite3.connect(orch.home / "state" / "orchestrator.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        created = conn.execute("SELECT count(*) FROM events WHERE kind = 'wo_created'").fetchone()
        assert created == (2 * per_process,)
    finally:
        conn.close()


@pytest.mark.timeout(120)
def test_two_cli_processes_through_the_console_script(orch: OrchRunner, project: str) -> None:
    """The installed ``orch`` script itself, a few times from two processes at once."""
    from tests.conftest import ORCH_SCRIPT

    per_process = 3
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    script = "\n".join(
        f'"{ORCH_SCRIPT}" --home "{orch.home}" wo add --project demo --title "$1-{i}" || exit 1'
        for i in range(per_process)
    )
    procs = [
        subprocess.Popen(
            ["sh", "-c", script, "sh", tag],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for tag in ("x", "y")
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=110)
        assert proc.returncode == 0, out
        assert "database is locked" not in out.lower(), out
    assert len(orch.json("wo", "list")) == 2 * per_process
