"""The API fuzzed against its own OpenAPI schema (schemathesis): any request the schema allows, and many it does
not, gets no 500 and every error comes in the one error shape. Marked robust: `make test-robust` and CI run it."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from casebase.serve.app import create_app
from casebase.serve.security import is_public

TOKEN = "Zr8-fQ2pL9xK4mWv7tB1"
AUTH = {"authorization": f"Bearer {TOKEN}"}
EXAMPLES = 1000  # per generation mode, spread over the operations


@pytest.fixture
def api_schema(indexed_ws):
    from casebase.llm import clear_cache, get_llm

    clear_cache()
    get_llm("fake").responder = lambda messages: "Category: Database\nUrgency: High\nSolution: Grant SELECT."
    app = create_app(indexed_ws, arm="base+rag", llm="fake", token=TOKEN, max_body_bytes=64_000,
                     allowed_host=["localhost", "testserver"])  # the names schemathesis's ASGI client sends
    return schemathesis.openapi.from_asgi("/openapi.json", app, headers=AUTH)


@pytest.mark.robust
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_server_errors_and_one_error_shape(api_schema, mode):
    seen: dict[str, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=api_schema.as_strategy(generation_mode=GenerationMode(mode)))
    def check(case):
        response = case.call(headers=AUTH)
        label = f"{case.method} {case.path}"
        seen[label] = seen.get(label, 0) + 1
        assert response.status_code < 500, (label, case.body, case.query, response.text[:300])
        if response.status_code >= 400:
            body = response.json()
            assert set(body) == {"error"} and set(body["error"]) == {"status", "code", "message"}, response.text
            assert body["error"]["status"] == response.status_code
            assert "Traceback" not in response.text and "/tmp" not in response.text
        if not is_public(case.path):
            assert case.call(headers={"authorization": "Bearer wrong"}).status_code == 401, label

    check()
    assert {"POST /api/suggest", "GET /api/search", "POST /api/cases", "POST /api/feedback"} <= set(seen)
    print(f"fuzz ({mode}): {sum(seen.values())} cases over {len(seen)} operations: {seen}")
