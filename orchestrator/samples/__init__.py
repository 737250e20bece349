"""The sample backlog shipped for `orch demo` (the same 20 work orders as the project's tests)."""

from pathlib import Path

SAMPLE_WORK_ORDERS = Path(__file__).parent / "work_orders"
#: Files the demo project ships besides its app: the experiment's evaluation and fixture.
DEMO_PROJECT_FILES = Path(__file__).parent / "demo_project"
