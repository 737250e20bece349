"""The JSON API fuzzed with schemathesis against its own OpenAPI schema (a bounded run):
no 500, every answer documented and shaped as the schema says, on a private demo home."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from orchestrator.web.app import create_app
from tests.support.dashboard import build_demo_home

pytestmark = pytest.mark.integration

TOKEN = "fuzz-token-0123456789"
#: The host schemathesis' ASGI client sends; the Origin check wants the same.
ORIGIN = "http://testserver"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Origin": ORIGIN}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    demo = build_demo_home(Path(tmp_path_factory.mktemp("fuzz-demo")))
    app = create_app(demo.settings, TOKEN)
    return schemathesis.openapi.from_asgi("/openapi.json", app, headers=HEADERS)


#: Examples per API operation: bounded, so the run ends by itself in a minute or so.
EXAMPLES = 20


def test_the_api_keeps_its_schema(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 14
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,  # the same examples every run: CI cannot flake on a new draw
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def fuzz(case: Any) -> None:
            case.call_and_validate(headers=HEADERS)

        fuzz()
