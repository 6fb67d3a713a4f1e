"""Generated requests against the OpenAPI spec (schemathesis): no input makes the server fail (no 5xx).

Examples per operation are bounded so the whole run takes a minute or two on two cores.
"""

from __future__ import annotations

import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from chipplan.web import create_app

APP = create_app(store=tempfile.mkdtemp(prefix="chipplan-schemathesis-"), examples=None)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case):
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, case.body, response.text[:500])


def teardown_module() -> None:
    APP.state.jobs.shutdown()
