"""The read commands a second shell runs while the daemon works, answered before typer loads.

``orch [--home H] status --json``, ``orch [--home H] wo list --track T --json`` and
``orch [--home H] track list --json`` print what the full CLI prints, read through
``store.read_queries`` (stdlib ``sqlite3`` only). Importing typer, SQLAlchemy, SQLModel and
pydantic would cost them ~20 times Python's own start-up.

Anything else, and any doubt, goes to the full CLI, which then gives the answer or the one
line error for it: other options or spellings, ``--help``, ``ORCH_*`` settings in the
environment, a config file other than the default one (only the full CLI validates
settings), a home without a current state DB, an unknown track, open experiments or
parked work (lines the domain builds).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

#: sha256 of ``config.render_default_config()``: a home whose config is byte for byte the
#: default needs no validation (tests/unit/test_cli_fast.py keeps this in step).
DEFAULT_CONFIG_SHA256 = "4c024ca1ac38fc73f08aef9a7571ce5e3b032ad872910dd5c1a4cc4e544dc61b"
#: Earlier defaults, still written in homes made before a key was added (each lacks only
#: keys whose default keeps the state in the home's SQLite file, or keys no read uses).
EARLIER_DEFAULT_SHA256 = frozenset(
    {
        "08aa74fd5660c77153c3e76e5b3db3f2c7a6bab08f2d1afaf02d05bd5d3cb4c6",  # before [store]
        # before model.decision_model and limits.decision_max_turns
        "395477ddbf4cda5273a93ee5421471eaea77255e3878416e9232bcad79f7dff3",
    }
)
CONFIG_RELPATH = Path("config") / "orchestrator.toml"


def run_read_command(argv: Sequence[str]) -> None:
    """Answer ``argv`` and exit the process if it is one of the fast reads; else return."""
    parsed = parse(argv)
    if parsed is None:
        return
    home, command, options = parsed
    if not settings_are_default(home):
        return
    # Nothing this process allocates needs collecting; and the exit below skips the final
    # collection too (output flushed first; nothing else is open for writing).
    gc.disable()
    import sqlite3

    from orchestrator.store import read_queries

    try:
        conn = read_queries.connect(home / "state" / "orchestrator.db")
        try:
            text = render(command, options, conn, host_id_of(home))
        finally:
            conn.close()
    except (read_queries.NotHere, sqlite3.Error):
        gc.enable()
        return
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    os._exit(0)


def parse(argv: Sequence[str]) -> tuple[Path, str, dict[str, str]] | None:
    """(home, command, options) for the exact grammar of the three reads, else None."""
    args = list(argv)
    home_option: str | None = None
    if args and args[0].startswith("--home"):
        if args[0] == "--home" and len(args) > 1:
            home_option, args = args[1], args[2:]
        elif args[0].startswith("--home="):
            home_option, args = args[0].removeprefix("--home="), args[1:]
        else:
            return None
        if not home_option or home_option.startswith("-"):
            return None
    options: dict[str, str] = {}
    if args == ["status", "--json"]:
        command = "status"
    elif args == ["track", "list", "--json"]:
        command = "track list"
    elif args[:2] == ["wo", "list"] and "--json" in args[2:]:
        rest = [a for a in args[2:] if a != "--json"]
        if len(rest) == 2 and rest[0] == "--track":
            options["track"] = rest[1]
        elif len(rest) == 1 and rest[0].startswith("--track="):
            options["track"] = rest[0].removeprefix("--track=")
        if len(args) - len(rest) != 3 or not options.get("track", "").strip("-"):
            return None
        if options["track"].startswith("-"):
            return None
        command = "wo list"
    else:
        return None
    return resolve_home(home_option), command, options


def resolve_home(option: str | None) -> Path:
    """As ``cli.context.resolve_home``: --home, else $ORCH_HOME, else the current directory."""
    if option is not None:
        return Path(option).expanduser().resolve()
    env = os.environ.get("ORCH_HOME")
    return Path(env).expanduser().resolve() if env else Path.cwd()


def host_id_of(home: Path) -> str | None:
    """The home's host id (``host_identity.read_host_id``); NotHere for a file that is not
    one, so the full CLI reports it."""
    from orchestrator.domain.errors import ValidationError
    from orchestrator.domain.hosts import validate_host_id
    from orchestrator.store.read_queries import NotHere

    try:
        text = (home / "state" / "host-id").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError:
        raise NotHere("host-id unreadable") from None
    try:
        return validate_host_id(text)
    except ValidationError:
        raise NotHere("host-id invalid") from None


def settings_are_default(home: Path) -> bool:
    """No ORCH_* setting in the environment and the default config (or none): the settings
    are valid without loading them."""
    if any(name.startswith("ORCH_") and name != "ORCH_HOME" for name in os.environ):
        return False
    try:
        data = (home / CONFIG_RELPATH).read_bytes()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    digest = hashlib.sha256(data).hexdigest()
    return digest == DEFAULT_CONFIG_SHA256 or digest in EARLIER_DEFAULT_SHA256


def render(command: str, options: dict[str, str], conn: Any, this_host: str | None = None) -> str:
    """The command's output, exactly as ``cli.context.emit_json`` prints it."""
    from orchestrator.store import read_queries

    if command == "status":
        from orchestrator.daemon.sandboxing import mode_line

        # The fast path serves only homes with the default config: the sandbox is on.
        status = read_queries.status(conn, this_host)
        return dumps({**status, "sandbox": mode_line(True)}) + "\n"
    if command == "track list":
        return json_list(read_queries.track_list(conn))
    return json_list(read_queries.track_wos(conn, options["track"]))


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


def json_list(rows: Iterable[Any], encode: Callable[[Any], str] = dumps) -> str:
    """A JSON list as ``json.dumps(list(rows), indent=2)`` writes it, one row at a time."""
    parts = []
    for row in rows:
        # Newlines inside strings are escaped by json, so every newline here is layout.
        parts.append("  " + encode(row).replace("\n", "\n  "))
    return "[\n" + ",\n".join(parts) + "\n]\n" if parts else "[]\n"
