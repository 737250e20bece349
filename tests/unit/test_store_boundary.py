"""Nothing above the store reaches the database itself (DESIGN.md, the store contract).

Outside ``orchestrator/store`` no module imports SQLAlchemy or SQLModel (nor the store's
table rows, which are SQLModel classes: domain types leave the store), none touches a
store's ``engine`` (every query lives in the store, behind its methods), and none names the
backend class (they use ``store.contract.Store``; ``open_store`` builds it).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import orchestrator

PACKAGE = Path(orchestrator.__file__).parent
STORE = PACKAGE / "store"
DB_LIBRARIES = ("sqlalchemy", "sqlmodel")


def _above_the_store() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if STORE not in p.parents]


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        for module in modules:
            if module.split(".")[0] in DB_LIBRARIES:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {module}")
        if isinstance(node, ast.ImportFrom) and node.module == "orchestrator.store.tables":
            # Table rows are SQLModel classes: what leaves the store is a domain type.
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports a table row")
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "orchestrator.store.sqlite_store"
            and any(alias.name != "open_store" for alias in node.names)
        ):
            # The backend class is built at the edge (open_store); callers see the Protocol.
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports SQLiteStore")
        if isinstance(node, ast.Attribute) and node.attr == "engine":
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} uses .engine")
    return found


def test_the_check_sees_the_package() -> None:
    files = _above_the_store()
    assert len(files) > 50 and any(p.name == "report.py" for p in files)
    # The store itself does both, so the check would notice them.
    assert _offences(STORE / "base.py")


def test_nothing_above_the_store_uses_the_database() -> None:
    offences = [line for path in _above_the_store() for line in _offences(path)]
    assert offences == []


def _table_names() -> set[str]:
    """The names of the store's table classes (SQLModel rows)."""
    from sqlmodel import SQLModel

    from orchestrator.store import tables

    return {
        name
        for name, value in vars(tables).items()
        if isinstance(value, type) and issubclass(value, SQLModel) and value is not SQLModel
    }


def test_the_store_contract_hands_out_no_table_row() -> None:
    """Every method of the Store Protocol returns domain types (or plain data), never a row
    (the annotations are read as written: some name types imported only for type checking)."""
    from orchestrator.store.contract import Store

    tables = _table_names()
    assert {"AgentRunRow", "ProjectRow", "TrackProposalRow"} <= tables
    methods = {
        name: getattr(Store, name)
        for name in dir(Store)
        if not name.startswith("_") and callable(getattr(Store, name))
    }
    assert len(methods) > 80 and "get_project" in methods
    returns = {name: str(m.__annotations__.get("return", "")) for name, m in methods.items()}
    offending = {
        name: sorted(set(re.findall(r"\w+", text)) & tables) for name, text in returns.items()
    }
    assert {name: rows for name, rows in offending.items() if rows} == {}
