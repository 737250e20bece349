"""Bad input: exit status 2, one clear line on stderr, never a traceback, and nothing changed."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import (
    ORCH_SCRIPT,
    SAMPLES_DIR,
    OrchRunner,
    Result,
    db_dump,
    init_git_repo,
    without_orch_env,
)
from tests.fixtures.bad_wo_files import BAD_CASES, BadCase, wo_text

pytestmark = [
    pytest.mark.integration,
]


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home holding two projects, the 20 samples, tracks in several statuses."""
    root = tmp_path_factory.mktemp("populated")
    home = root / "home"
    orch = OrchRunner(home)
    with without_orch_env():
        orch.ok("init")
        orch.ok("project", "add", init_git_repo(root / "demo"))
        orch.ok("project", "add", init_git_repo(root / "other"))
        orch.ok("wo", "import", SAMPLES_DIR, "--project", "demo")
        orch.ok("wo", "add", "--project", "other", "--title", "Other work")
        orch.ok("track", "create", "--project", "demo", "--name", "t1", "--type", "feature")
        orch.ok("track", "create", "--project", "demo", "--name", "t2", "--type", "fix")
        orch.ok("track", "assign", "t1", "WO-2026-001", "WO-2026-002")
        orch.ok("track", "ready", "t2")
    return home


@pytest.fixture
def bad(populated: Path, tmp_path: Path) -> Iterator[OrchRunner]:
    """A copy of ``populated``; after the test, its DB must equal the original's."""
    home = tmp_path / "home"
    shutil.copytree(populated, home)
    before = db_dump(home)
    yield OrchRunner(home)
    assert db_dump(home) == before, "a refused command changed the DB"


def assert_clean_failure(result: Result) -> None:
    assert result.code == 2, str(result)
    assert "Traceback" not in result.out + result.err, str(result)
    assert result.err_lines, str(result)
    assert result.err_lines[0].startswith("orch: error: "), str(result)


def assert_one_line(result: Result) -> None:
    assert_clean_failure(result)
    assert len(result.err_lines) == 1, str(result)


# -------------------------------------------------------------------- malformed files


def test_the_fixture_has_enough_cases() -> None:
    assert len(BAD_CASES) >= 15
    assert len({c.name for c in BAD_CASES}) == len(BAD_CASES)


def write_case(directory: Path, case: BadCase) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, raw in case.files.items():
        (directory / name).write_bytes(raw)
    return directory


def check_batch_error(result: Result, case: BadCase) -> None:
    """First line the summary, then one indented line per bad file naming it."""
    assert_clean_failure(result)
    first, *rest = result.err_lines
    assert "work order file" in first and "bad" in first, str(result)
    for line in rest:
        assert line.startswith("  "), str(result)
    for name in case.named_files:
        assert name in result.err, f"{name} not named:\n{result}"
    assert case.reason in result.err, f"reason {case.reason!r} missing:\n{result}"


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.name)
def test_malformed_batch_is_refused(bad: OrchRunner, tmp_path: Path, case: BadCase) -> None:
    directory = write_case(tmp_path / "batch", case)
    check_batch_error(bad("wo", "import", directory, "--project", "demo"), case)


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.name)
def test_malformed_file_named_on_the_command_line(
    bad: OrchRunner, tmp_path: Path, case: BadCase
) -> None:
    directory = write_case(tmp_path / "batch", case)
    files = [directory / name for name in case.files]
    check_batch_error(bad("wo", "import", *files, "--project", "demo"), case)


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.name)
def test_one_bad_file_spoils_the_whole_batch(
    orch: OrchRunner, project: str, tmp_path: Path, case: BadCase
) -> None:
    """All or nothing: 20 good files and one bad one import nothing, into an empty DB."""
    directory = tmp_path / "batch"
    shutil.copytree(SAMPLES_DIR, directory)
    write_case(directory, case)
    before = db_dump(orch.home)
    check_batch_error(orch("wo", "import", directory), case)
    assert db_dump(orch.home) == before
    assert orch.json("wo", "list") == []


def test_every_bad_file_of_a_batch_is_named(bad: OrchRunner, tmp_path: Path) -> None:
    directory = tmp_path / "batch"
    single = [c for c in BAD_CASES if len(c.files) == 1][:5]
    for case in single:
        write_case(directory, case)
    (directory / "WO-2099-900_good.md").write_text(wo_text("WO-2099-900"))
    result = bad("wo", "import", directory, "--project", "demo")
    assert_clean_failure(result)
    assert result.err_lines[0].startswith("orch: error: 5 of 6 work order files are bad")
    assert len(result.err_lines) == 6
    for case in single:
        assert case.named_files[0] in result.err
    assert "WO-2099-900_good.md" not in result.err


def test_import_of_a_missing_path(bad: OrchRunner, tmp_path: Path) -> None:
    result = bad("wo", "import", tmp_path / "nowhere", "--project", "demo")
    assert_one_line(result)
    assert "nowhere" in result.err


def test_import_of_a_directory_without_wo_files(bad: OrchRunner, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a WO")
    assert_one_line(bad("wo", "import", tmp_path / "empty", "--project", "demo"))


def test_import_that_would_move_a_wo_to_another_project(bad: OrchRunner, tmp_path: Path) -> None:
    result = bad(
        "wo",
        "import",
        SAMPLES_DIR / "WO-2026-001_runner-sandbox-process-isolation.md",
        "--project",
        "other",
    )
    # Listed like every bad file of a batch: the summary, then the file and its reason.
    assert_clean_failure(result)
    assert len(result.err_lines) == 2, str(result)
    assert "WO-2026-001 belongs to project 'demo'" in result.err_lines[1]


def test_import_of_an_illegal_status_change(bad: OrchRunner, tmp_path: Path) -> None:
    source = SAMPLES_DIR / "WO-2026-001_runner-sandbox-process-isolation.md"
    target = tmp_path / source.name
    target.write_text(source.read_text().replace("status: backlog", "status: done"))
    result = bad("wo", "import", target, "--project", "demo")
    assert_clean_failure(result)
    assert len(result.err_lines) == 2, str(result)
    assert "from backlog to done" in result.err_lines[1]


# -------------------------------------------------------------------------- arguments

#: Commands that must be refused; ``{plain}`` is a directory that is not a repository,
#: ``{repo}`` a fresh repository that is not a project yet, ``{tmp}`` a scratch directory.
BAD_COMMANDS: list[tuple[str, list[str], str]] = [
    # unknown ids
    ("wo-show-unknown", ["wo", "show", "WO-2026-999"], "WO-2026-999"),
    ("wo-show-malformed", ["wo", "show", "nope"], "nope"),
    ("wo-show-traversal", ["wo", "show", "../WO-2026-001"], "invalid work order id"),
    ("assign-unknown-wo", ["track", "assign", "t1", "WO-2026-999"], "WO-2026-999"),
    ("assign-some-unknown", ["track", "assign", "t1", "WO-2026-003", "WO-2026-999"], "WO-2026-999"),
    ("assign-malformed-wo", ["track", "assign", "t1", "x"], "invalid work order id"),
    ("unassign-unknown-wo", ["track", "unassign", "t1", "WO-2026-999"], "WO-2026-999"),
    ("assign-other-project", ["track", "assign", "t1", "{other_wo}"], "belongs to project"),
    (
        "wo-add-unknown-dep",
        ["wo", "add", "--project", "demo", "--title", "x", "--depends-on", "WO-2026-999"],
        "WO-2026-999",
    ),
    (
        "wo-add-bad-dep",
        ["wo", "add", "--project", "demo", "--title", "x", "--depends-on", "WO-1"],
        "invalid work order id",
    ),
    # unknown tracks and projects
    ("track-show-unknown", ["track", "show", "nope"], "unknown track 'nope'"),
    ("track-ready-unknown", ["track", "ready", "nope"], "unknown track 'nope'"),
    ("track-activate-unknown", ["track", "activate", "nope"], "unknown track 'nope'"),
    ("track-archive-unknown", ["track", "archive", "nope"], "unknown track 'nope'"),
    ("assign-unknown-track", ["track", "assign", "nope", "WO-2026-001"], "unknown track"),
    ("wo-list-unknown-track", ["wo", "list", "--track", "nope"], "unknown track 'nope'"),
    (
        "parent-unknown",
        [
            "track",
            "create",
            "--project",
            "demo",
            "--name",
            "x",
            "--type",
            "feature",
            "--parent",
            "nope",
        ],
        "nope",
    ),
    ("wo-add-unknown-project", ["wo", "add", "--project", "nope", "--title", "x"], "nope"),
    ("wo-list-unknown-project", ["wo", "list", "--project", "nope"], "unknown project"),
    (
        "wo-import-unknown-project",
        ["wo", "import", str(SAMPLES_DIR), "--project", "nope"],
        "unknown project",
    ),
    (
        "wo-export-unknown-project",
        ["wo", "export", "{tmp}/out", "--project", "nope"],
        "unknown project",
    ),
    (
        "track-create-unknown-project",
        ["track", "create", "--project", "nope", "--name", "x", "--type", "feature"],
        "unknown project",
    ),
    ("wo-add-needs-project", ["wo", "add", "--title", "x"], "--project"),
    # illegal transitions
    ("illegal-pause", ["track", "pause", "t1"], "from draft to paused"),
    ("illegal-complete", ["track", "complete", "t2"], "from ready to completed"),
    ("illegal-archive", ["track", "archive", "t1"], "from draft to archived"),
    ("illegal-activate", ["track", "activate", "t1"], "from draft to active"),
    # projects
    ("project-missing-path", ["project", "add", "{tmp}/missing"], "does not exist"),
    ("project-not-a-repo", ["project", "add", "{plain}"], "not a git repository"),
    ("project-bad-name-traversal", ["project", "add", "{repo}", "--name", "../x"], "'../x'"),
    ("project-bad-name-space", ["project", "add", "{repo}", "--name", "Bad Name"], "'Bad Name'"),
    ("project-bad-base-branch", ["project", "add", "{repo}", "--base-branch", "a..b"], "a..b"),
    ("project-duplicate", ["project", "add", "{repo}", "--name", "demo"], "already exists"),
    # slugs and values
    (
        "track-bad-name-traversal",
        ["track", "create", "--project", "demo", "--name", "../x", "--type", "feature"],
        "'../x'",
    ),
    (
        "track-bad-name-space",
        ["track", "create", "--project", "demo", "--name", "Bad Name", "--type", "feature"],
        "'Bad Name'",
    ),
    (
        "track-duplicate-name",
        ["track", "create", "--project", "demo", "--name", "t1", "--type", "feature"],
        "t1",
    ),
    (
        "track-bad-type",
        ["track", "create", "--project", "demo", "--name", "x", "--type", "nonsense"],
        "nonsense",
    ),
    (
        "track-experiment-flag",
        [
            "track",
            "create",
            "--project",
            "demo",
            "--name",
            "x",
            "--type",
            "feature",
            "--experiment",
            "e1",
        ],
        "--experiment",
    ),
    ("wo-list-bad-status", ["wo", "list", "--status", "bogus"], "bogus"),
    ("track-list-bad-status", ["track", "list", "--status", "bogus"], "bogus"),
    ("track-list-bad-type", ["track", "list", "--type", "bogus"], "bogus"),
    ("wo-add-empty-title", ["wo", "add", "--project", "demo", "--title", "  "], "title"),
    (
        "wo-add-bad-tag",
        ["wo", "add", "--project", "demo", "--title", "x", "--tag", "Bad Tag"],
        "Bad Tag",
    ),
    (
        "wo-add-priority-high",
        ["wo", "add", "--project", "demo", "--title", "x", "--priority", "9"],
        "priority",
    ),
    (
        "wo-add-priority-word",
        ["wo", "add", "--project", "demo", "--title", "x", "--priority", "high"],
        "priority",
    ),
    # usage
    ("unknown-command", ["frobnicate"], "frobnicate"),
    ("unknown-option", ["wo", "list", "--bogus"], "--bogus"),
    ("missing-option", ["wo", "add"], "--title"),
    ("missing-argument", ["track", "show"], "ID"),
]


@pytest.mark.parametrize(
    ("name", "argv", "expected"), BAD_COMMANDS, ids=[c[0] for c in BAD_COMMANDS]
)
def test_bad_command_is_one_line_and_changes_nothing(
    bad: OrchRunner, tmp_path: Path, name: str, argv: list[str], expected: str
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    repo = init_git_repo(tmp_path / "fresh-repo")
    [other_wo] = [w["id"] for w in bad.json("wo", "list", "--project", "other")]
    values = {"plain": plain, "repo": repo, "tmp": tmp_path, "other_wo": other_wo}
    args = [a.format(**values) for a in argv]
    result = bad(*args)
    assert_one_line(result)
    assert expected in result.err, str(result)
    # Nothing on disk either: no worktree, no export directory.
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in (bad.home / "workspaces").iterdir()) == [".gitignore"]


# ---------------------------------------------------------- the bad-input table (issue 12)


@dataclass(frozen=True)
class Bad:
    """One malformed input: ``argv`` (placeholders as in BAD_COMMANDS, plus ``{file}``, a
    plain file, and ``{port}``, a loopback port in use) under ``env``; ``said`` must be in
    the one line."""

    name: str
    argv: list[str]
    said: str
    env: dict[str, str] = field(default_factory=dict)
    #: Text of the home's config/orchestrator.toml during the command ("": the original).
    config: str = ""


def _env(name: str, value: str, said: str, *argv: str) -> Bad:
    command = list(argv or ["run", "--exit-when-idle"])
    return Bad(f"env-{name}-{value}-{command[0]}", command, said, {name: value})


ADD = ["wo", "add", "--project", "demo", "--title"]
EXPERIMENT = ["experiment", "start", "--project", "demo", "--name", "e", "--eval", "true"]

MALFORMED: list[Bad] = [
    # -- paths that are not usable directories
    Bad("export-into-a-file", ["wo", "export", "{file}"], "is not a directory"),
    Bad("export-into-proc", ["wo", "export", "/proc/nope"], "cannot create export directory"),
    Bad("export-under-a-file", ["wo", "export", "{file}/sub"], "Not a directory"),
    Bad("home-is-a-file", ["--home", "{file}", "init"], "is not a directory"),
    Bad("home-under-a-file", ["--home", "{file}/h", "init"], "cannot create state home"),
    Bad("demo-dir-is-a-file", ["demo", "--dir", "{file}", "--no-run"], "is not a directory"),
    Bad("demo-dir-in-proc", ["demo", "--dir", "/proc/nope", "--no-run"], "cannot create"),
    # -- the simulator's port
    Bad("sim-port-negative", ["sim", "serve", "--port", "-1"], "--port"),
    Bad("sim-port-too-big", ["sim", "serve", "--port", "70000"], "--port"),
    Bad("sim-port-word", ["sim", "serve", "--port", "http"], "--port"),
    Bad("sim-port-in-use", ["sim", "serve", "--port", "{port}"], "in use"),
    Bad("sim-bad-faults", ["sim", "serve", "--faults", "bogus"], "--faults"),
    # -- settings from the environment: each names the key and what it allows
    _env("ORCH_DAEMON_MAX_AGENTS", "-3", "daemon.max_agents): must be an integer >= 1"),
    _env("ORCH_DAEMON_MAX_AGENTS", "lots", "expected an integer"),
    _env("ORCH_DAEMON_MAX_AGENTS", "2.5", "expected an integer"),
    _env("ORCH_LOGGING_LEVEL", "verbose", "one of debug, info, warning, error"),
    _env("ORCH_MODEL_SIM_FAULTS", "bogus", "fault spec"),
    _env("ORCH_MODEL_SIM_FAULTS", "429:2", "fault spec"),
    _env("ORCH_DAEMON_HEARTBEAT_INTERVAL_S", "nan", "finite number > 0"),
    _env("ORCH_DAEMON_HEARTBEAT_INTERVAL_S", "0", "> 0"),
    _env("ORCH_DAEMON_HEARTBEAT_INTERVAL_S", "-inf", "finite number"),
    _env("ORCH_DAEMON_HEARTBEAT_INTERVAL_S", "45", "greater than daemon.heartbeat_interval_s"),
    _env("ORCH_DAEMON_LEASE_TTL_S", "-5", "daemon.lease_ttl_s): must be a number > 0"),
    _env("ORCH_DAEMON_DISPATCH_INTERVAL_S", "0", "> 0"),
    _env("ORCH_DAEMON_GLOBAL_INTERVAL_S", "-1", "> 0"),
    _env("ORCH_DAEMON_SHUTDOWN_GRACE_S", "-1", ">= 0"),
    _env("ORCH_DAEMON_QUEUE_SIZE", "0", ">= 1"),
    _env("ORCH_LIMITS_MAX_TURNS", "-1", "limits.max_turns): must be an integer >= 1"),
    _env("ORCH_LIMITS_MAX_ATTEMPTS", "0", ">= 1"),
    _env("ORCH_LIMITS_RUN_WALL_CLOCK_S", "0", "> 0"),
    _env("ORCH_LIMITS_IDLE_TIMEOUT_S", "soon", "expected a number"),
    _env("ORCH_LIMITS_MAX_COST_PER_RUN_USD", "-1", "> 0"),
    _env("ORCH_LIMITS_MAX_COST_PER_WO_USD", "0", "> 0"),
    _env("ORCH_LIMITS_BUDGET_PER_RUN_USD", "-0.1", ">= 0"),
    _env("ORCH_LIMITS_CHECK_TIMEOUT_S", "nan", "finite number"),
    _env("ORCH_MODEL_BACKEND", "gpt", "one of claude, sim"),
    _env("ORCH_MODEL_SIM_SEED", "-1", ">= 0"),
    _env("ORCH_ORGANIZER_ORGANIZE_AFTER_NEW_WOS", "-2", ">= 0"),
    _env("ORCH_ORGANIZER_AUTO_APPLY_INCREMENTAL", "maybe", "true or false"),
    _env("ORCH_ORGANIZER_CONTEXT_TOKEN_BUDGET", "5", ">= 1000"),
    _env("ORCH_ORGANIZER_MAX_ATTEMPTS", "0", ">= 1"),
    _env("ORCH_EXPERIMENTS_EVAL_TIMEOUT_S", "-3", ">= 0"),
    _env("ORCH_EXPERIMENTS_JUDGE_CLOSE_CALLS", "2", "true or false"),
    _env("ORCH_DAEMON_MAX_AGENT", "3", "did you mean ORCH_DAEMON_MAX_AGENTS?"),
    _env("ORCH_LIMIT_MAX_TURNS", "3", "did you mean ORCH_LIMITS_MAX_TURNS?"),
    _env("ORCH_BOGUS", "1", "unknown environment variable ORCH_BOGUS"),
    # ... and on every door, not only `run`
    _env("ORCH_DAEMON_MAX_AGENTS", "-3", "daemon.max_agents", "status"),
    _env("ORCH_DAEMON_MAX_AGENTS", "-3", "daemon.max_agents", "wo", "list"),
    _env("ORCH_LOGGING_LEVEL", "verbose", "logging.level", "init"),
    _env("ORCH_DAEMON_HEARTBEAT_INTERVAL_S", "nan", "heartbeat", "recover"),
    _env("ORCH_LOGGING_LEVEL", "verbose", "logging.level", "demo", "--dir", "{tmp}/d"),
    _env("ORCH_DAEMON_MAX_AGENTZ", "3", "ORCH_DAEMON_MAX_AGENTS", "track", "list"),
    # -- one set of WO rules at every door (files: BAD_CASES; the agent: test_daemon_dispatch)
    Bad("wo-add-escape-title", [*ADD, "evil\x1b[31m\n"], "without control characters"),
    Bad("wo-add-bell-title", [*ADD, "ding\x07"], "without control characters"),
    Bad("wo-add-huge-title", [*ADD, "t" * 120_000], "title is too long (120000 characters"),
    Bad("wo-add-201-title", [*ADD, "t" * 201], "limit 200"),
    Bad("wo-add-escape-goal", [*ADD, "ok", "--goal", "red\x1b[31m"], "goal contains control"),
    Bad("wo-add-huge-goal", [*ADD, "ok", "--goal", "g" * 10_001], "goal is too long"),
    Bad("wo-add-priority-zero", [*ADD, "ok", "--priority", "0"], "priority"),
    # -- silent zeros: filters and removals that match nothing are refused
    Bad("logs-unknown-run", ["logs", "--run", "nope"], "nope"),
    Bad("logs-unknown-track", ["logs", "--track", "nope"], "unknown track 'nope'"),
    Bad("logs-negative-lines", ["logs", "--lines", "-5"], "--lines"),
    Bad("logs-follow-unknown-track", ["logs", "-f", "--track", "nope"], "unknown track"),
    Bad("unassign-unassigned", ["track", "unassign", "t1", "WO-2026-003"], "not assigned"),
    Bad(
        "unassign-some-unassigned",
        ["track", "unassign", "t1", "WO-2026-001", "WO-2026-004"],
        "not assigned to track t1: WO-2026-004",
    ),
    Bad("unassign-unknown-track", ["track", "unassign", "nope", "WO-2026-001"], "unknown track"),
    Bad(
        "track-goal-escape",
        [
            "track",
            "create",
            "--project",
            "demo",
            "--name",
            "x",
            "--type",
            "feature",
            "--goal",
            "red\x1b[31m",
        ],
        "--goal contains control characters",
    ),
    Bad(
        "track-goal-huge",
        [
            "track",
            "create",
            "--project",
            "demo",
            "--name",
            "x",
            "--type",
            "feature",
            "--goal",
            "g" * 10_001,
        ],
        "--goal is too long",
    ),
    # -- settings from the file, through every door
    *(
        Bad(f"toml-{n}-{argv[0]}", argv, said, config=text)
        for n, (text, said) in enumerate(
            [
                ("[daemon]\nmax_agents = -3\n", "daemon.max_agents: must be an integer >= 1"),
                ("[daemon]\nheartbeat_interval_s = nan\n", "finite number > 0"),
                ("[daemon]\nlease_ttl_s = 1.0\n", "greater than daemon.heartbeat_interval_s"),
                ("[limits]\nmax_turns = -1\n", "limits.max_turns: must be an integer >= 1"),
                ('[logging]\nlevel = "verbose"\n', "logging.level: must be one of"),
                ('[model]\nsim_faults = "bogus"\n', "model.sim_faults: must be a fault spec"),
                ("[daemon]\nmax_agent = 3\n", "did you mean max_agents?"),
                ("[deamon]\nmax_agents = 3\n", "did you mean daemon?"),
                ("[daemon\n", "not valid TOML"),
            ]
        )
        for argv in (["run", "--exit-when-idle"], ["status"])
    ),
    # -- run's own options
    Bad("run-until-garbage", ["run", "--until", "25:99"], "invalid time '25:99'"),
    Bad("run-budget-negative", ["run", "--budget", "-1"], "--budget"),
    Bad("run-max-agents-zero", ["run", "--max-agents", "0"], "--max-agents"),
    Bad("run-backend-unknown", ["run", "--model-backend", "gpt"], "--model-backend"),
    Bad("run-max-agents-huge", ["run", "--max-agents", "100000"], "--max-agents"),
    Bad("run-budget-nan", ["run", "--budget", "nan"], "--budget"),
    Bad("sim-seed-negative", ["sim", "serve", "--seed", "-1"], "--seed"),
    Bad("recover-unknown-run", ["recover", "--run", "nope"], "nope"),
    Bad("recover-unknown-track", ["recover", "--track", "nope"], "unknown track"),
    Bad("review-show-unknown", ["review", "show", "999"], "999"),
    Bad("review-show-word", ["review", "show", "nope"], "ID"),
    Bad("review-approve-unknown", ["review", "approve", "999"], "999"),
    Bad("organize-unknown-project", ["organize", "--project", "nope"], "nope"),
    Bad("organize-bad-mode", ["organize", "--project", "demo", "--mode", "bogus"], "bogus"),
    Bad("experiment-show-unknown", ["experiment", "show", "nope"], "nope"),
    Bad(
        "experiment-hypothesis-escape",
        [*EXPERIMENT, "--hypothesis", "red\x1b[31m", "--hypothesis", "b", "--goal", "g"],
        "a hypothesis contains control characters",
    ),
    Bad(
        "experiment-goal-huge",
        [*EXPERIMENT, "--hypothesis", "a", "--hypothesis", "b", "--goal", "g" * 10_001],
        "goal is too long",
    ),
    Bad(
        "experiment-goal-escape",
        [*EXPERIMENT, "--hypothesis", "a", "--hypothesis", "b", "--goal", "x\x07"],
        "goal contains control characters",
    ),
    Bad("experiment-start-a-file-not-md", ["experiment", "start", "{file}"], "FILE"),
    Bad("dashboard-port-too-big", ["dashboard", "--port", "70000"], "--port"),
    Bad("dashboard-public-host", ["dashboard", "--host", "0.0.0.0"], "0.0.0.0"),
    Bad("dashboard-port-in-use", ["dashboard", "--port", "{port}"], "in use"),
    Bad("run-dashboard-port-in-use", ["run", "--dashboard", "--port", "{port}"], "in use"),
    Bad("home-in-proc", ["--home", "/proc/nope", "init"], "cannot create state home"),
    # An empty path (an unset shell variable) is refused, never read as the current directory.
    Bad("home-empty", ["--home", "", "status"], "an empty path is not allowed"),
    Bad("wo-export-empty-path", ["wo", "export", ""], "an empty path is not allowed"),
    Bad("wo-import-empty-path", ["wo", "import", ""], "an empty path is not allowed"),
    Bad("project-add-empty-path", ["project", "add", ""], "an empty path is not allowed"),
    Bad("experiment-start-empty-path", ["experiment", "start", ""], "an empty path"),
    Bad("run-budget-inf", ["run", "--budget", "inf"], "--budget"),
    Bad("dashboard-token-empty", ["dashboard", "--token", ""], "at least 16 characters"),
    Bad("dashboard-token-short", ["dashboard", "--token", "short"], "at least 16 characters"),
]


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_the_table_is_large_enough() -> None:
    assert len(MALFORMED) + len(BAD_COMMANDS) >= 100
    assert len({c.name for c in MALFORMED}) == len(MALFORMED)


@pytest.mark.parametrize("case", MALFORMED, ids=lambda c: c.name)
def test_malformed_input_is_one_line_and_changes_nothing(
    bad: OrchRunner,
    tmp_path: Path,
    busy_port: int,
    monkeypatch: pytest.MonkeyPatch,
    case: Bad,
) -> None:
    plain_file = tmp_path / "FILE"
    plain_file.write_text("not a directory\n")
    values = {"file": plain_file, "tmp": tmp_path, "port": busy_port}
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    if case.config:
        (bad.home / "config" / "orchestrator.toml").write_text(case.config)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = bad(*[a.format(**values) for a in case.argv])
    assert_one_line(result)
    assert case.said in result.err, str(result)
    # Nothing written beside the DB either: no file, no directory.
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_the_real_console_script_agrees_with_the_table(bad: OrchRunner, tmp_path: Path) -> None:
    """A sample of the table through the installed `orch` in real processes, started
    together: the same status, the same one line (the table runs in-process for speed)."""
    plain_file = tmp_path / "FILE"
    plain_file.write_text("x\n")
    sample = [c for c in MALFORMED if not c.config and "{port}" not in " ".join(c.argv)][::10]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    procs = []
    for case in sample:
        argv = [a.format(file=plain_file, tmp=tmp_path) for a in case.argv]
        procs.append(
            subprocess.Popen(
                [str(ORCH_SCRIPT), "--home", str(bad.home), *argv],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env={**env, **case.env},
            )
        )
    for case, proc in zip(sample, procs, strict=True):
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, (case.name, err)
        assert len(err.splitlines()) == 1 and err.startswith("orch: error: "), (case.name, err)
        assert case.said in err, (case.name, err)
    assert len(sample) >= 8


@pytest.mark.parametrize(
    ("breakage", "said"),
    [
        ("config-is-a-directory", "orchestrator.toml is not a file"),
        ("logs-is-a-file", "log directory"),
        ("workspaces-is-a-file", "workspaces directory"),
    ],
)
def test_a_broken_home_is_one_line(orch: OrchRunner, home: Path, breakage: str, said: str) -> None:
    if breakage == "config-is-a-directory":
        (home / "config" / "orchestrator.toml").unlink()
        (home / "config" / "orchestrator.toml").mkdir()
    elif breakage == "logs-is-a-file":
        shutil.rmtree(home / "state" / "logs")
        (home / "state" / "logs").write_text("")
    else:
        shutil.rmtree(home / "workspaces")
        (home / "workspaces").write_text("")
    result = orch.fails("init")
    assert said in result.err


def test_escape_codes_stored_before_the_rules_never_reach_the_terminal(
    orch: OrchRunner, project: str
) -> None:
    """A WO stored with escape codes (an older version let them in) prints as escapes."""
    from orchestrator.domain.models import WorkOrder
    from orchestrator.store.sqlite_store import SQLiteStore

    store = SQLiteStore.open(orch.home / "state" / "orchestrator.db")
    try:
        evil = WorkOrder(id="", title="evil\x1b[31m red [bold]x[/]", goal="g\x1b]0;pwned\x07")
        wo_id = store.add_work_order(project, evil).id
    finally:
        store.close()
    listed = orch.ok("wo", "list").out
    assert "\x1b" not in listed and "\x07" not in listed
    assert "evil\\x1b[31m red [bold]x[/]" in listed  # shown, escaped, markup not applied
    shown = orch.ok("wo", "show", wo_id).out
    assert "\x1b" not in shown and "\x07" not in shown and "\\x1b]0;pwned" in shown
    # JSON keeps the data exact (it is escaped by the JSON encoding itself).
    assert orch.json("wo", "list")[0]["title"] == evil.title


def test_an_export_of_daemon_statuses_imports_back(
    orch: OrchRunner, project: str, tmp_path: Path
) -> None:
    """running/failed/blocked may not be imported, except as the status already stored."""
    from orchestrator.domain.lifecycle import WOStatus
    from orchestrator.store.sqlite_store import SQLiteStore

    orch.ok("wo", "add", "--title", "Will fail")
    [wo_id] = [w["id"] for w in orch.json("wo", "list")]
    store = SQLiteStore.open(orch.home / "state" / "orchestrator.db")
    try:
        for status in (WOStatus.READY, WOStatus.RUNNING, WOStatus.FAILED):
            store.set_wo_status(wo_id, status, reason="as a run would")
    finally:
        store.close()
    orch.ok("wo", "export", tmp_path / "out")
    [exported] = list((tmp_path / "out").iterdir())
    assert "status: failed" in exported.read_text()
    orch.ok("wo", "import", exported)  # unchanged: accepted
    renamed = exported.read_text().replace(wo_id, "WO-2026-900")
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "WO-2026-900_x.md").write_text(renamed)
    before = db_dump(orch.home)
    result = orch("wo", "import", tmp_path / "new")
    assert_clean_failure(result)
    assert "status 'failed' cannot be imported" in result.err
    assert db_dump(orch.home) == before


def test_no_traceback_when_the_db_is_not_a_db(orch: OrchRunner, home: Path) -> None:
    (home / "state" / "orchestrator.db").write_bytes(b"this is not a database" * 100)
    result = orch("status")
    assert result.code == 1
    assert "state database" in result.err, str(result)
    assert "Traceback" not in result.out + result.err, str(result)
    assert len(result.err_lines) == 1, str(result)


def test_one_line_when_the_db_stays_locked(
    bad: OrchRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the write lock past the busy timeout: one line, exit 1, no
    traceback, nothing changed (the ``bad`` fixture compares the DB afterwards)."""
    import sqlite3

    from orchestrator.store import db

    monkeypatch.setattr(db, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(bad.home / "state" / "orchestrator.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        result = bad("wo", "add", "--project", "demo", "--title", "Never written")
    finally:
        holder.rollback()
        holder.close()
    assert result.code == 1, str(result)
    assert "Traceback" not in result.out + result.err, str(result)
    assert result.err_lines == ["orch: error: state database: database is locked"], str(result)


def test_one_line_when_the_db_is_damaged(orch: OrchRunner, home: Path) -> None:
    """A state DB whose pages were overwritten: a write command says so in one line."""
    db_path = home / "state" / "orchestrator.db"
    data = bytearray(db_path.read_bytes())
    # Keep the header (page 1 names the file a database), garble every later page.
    for offset in range(4096, len(data)):
        data[offset] = 0xA5
    db_path.write_bytes(bytes(data))
    result = orch("wo", "add", "--project", "demo", "--title", "x")
    assert result.code == 1, str(result)
    assert "Traceback" not in result.out + result.err, str(result)
    assert len(result.err_lines) == 1, str(result)
    assert result.err_lines[0].startswith("orch: error: state database: "), str(result)
