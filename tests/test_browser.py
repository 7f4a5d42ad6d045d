"""The agents' page in a real browser: submit a ticket, see cited cases and the draft, give feedback; no XSS.

Needs Debian's chromium at /usr/bin/chromium and the playwright pip package (`make browser` installs
both; playwright's own browser download cannot work here and is never used). Without them every test
here skips with the reason. The app runs under uvicorn in a background thread on a free loopback port,
over a tiny workspace with the fake embedder and a fake LLM, so each test takes a few seconds.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    pytest.skip("playwright is not installed (make browser)", allow_module_level=True)
if not CHROMIUM.exists():  # pragma: no cover - depends on the machine
    pytest.skip(f"no chromium at {CHROMIUM} (make browser)", allow_module_level=True)

import httpx  # noqa: E402
import uvicorn  # noqa: E402

from casebase.retrieve import build_index  # noqa: E402
from casebase.serve.app import create_app  # noqa: E402
from casebase.serve.store import Store  # noqa: E402
from test_retrieve import TRAIN, VAL, write_cases  # noqa: E402

SOLUTION = "Grant SELECT on the table."
FORMATTED = f"Category: Database\nUrgency: High\nSolution: {SOLUTION}"
SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=2">'


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # older uvicorn: no signal handlers outside the main thread
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fake_llm():
    from casebase.llm import clear_cache, get_llm

    clear_cache()
    llm = get_llm("fake")
    llm.responder = lambda messages: FORMATTED
    yield llm
    clear_cache()


@contextlib.contextmanager
def _serving(ws, token: str = ""):
    """The app over a tiny workspace, served by uvicorn in a thread; yields its base URL."""
    if not (ws.root / "index").exists():
        write_cases(ws.root / "train.jsonl", TRAIN)
        write_cases(ws.root / "val.jsonl", VAL)
        build_index(ws, model="fake")
    app = create_app(ws, arm="base+rag", llm="fake", token=token)
    port = _free_port()
    srv = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True, name="uvicorn-test")
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            srv.should_exit = True
            pytest.fail("the test server did not answer /healthz within 20 s")
        time.sleep(0.05)
    try:
        yield url
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server(ws, fake_llm):
    """(base URL, workspace) of a server without a token."""
    with _serving(ws) as url:
        yield url, ws


TOKEN = "Zr8-fQ2pL9xK4mWv7tB1"


@pytest.fixture
def token_server(ws, fake_llm):
    """(base URL, workspace) of a server that needs TOKEN on every route but the page and /healthz."""
    with _serving(ws, token=TOKEN) as url:
        yield url, ws


@pytest.fixture
def page():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1100, "height": 900})
            pg.set_default_timeout(15_000)
            errors: list[str] = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.errors = errors
            yield pg
        finally:
            browser.close()


def _submit(page, subject: str, body: str) -> None:
    page.fill("#subject", subject)
    page.fill("#body", body)
    page.click("#submit")
    page.wait_for_selector("#cases details.case", state="attached")
    expect(page.locator("#status")).to_contain_text("done in")


def _screenshot(page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def test_submit_ticket_see_cases_and_draft_then_accept(server, page, tmp_path):
    url, ws = server
    page.goto(url + "/")
    expect(page.locator("#health")).to_contain_text("past cases")
    assert page.get_attribute("#token-row", "hidden") is not None  # no token on this server
    _submit(page, "Sales report broken", "ORA-00942 table or view does not exist after the transport of the report")

    assert page.locator("#cases details.case").count() >= 1
    assert "C02" in page.locator("#cases details.case").first.inner_text()
    assert page.input_value("#draft") == SOLUTION
    assert page.locator("#abstained").is_hidden()
    expect(page.locator("#model")).to_contain_text("fake")
    expect(page.locator("#triage")).to_contain_text("Database")

    page.click("#accept")
    expect(page.locator("#feedback-status")).to_contain_text("recorded")
    _screenshot(page, tmp_path / "page.png")

    feedback = Store(ws.root / "casebase.db").feedback()
    assert [f["verdict"] for f in feedback] == ["accepted"]
    assert feedback[0]["final_text"] == SOLUTION
    assert page.errors == []


def test_token_row_not_shown_without_a_token(server, page):
    url, _ = server
    page.goto(url + "/")
    expect(page.locator("#health")).to_contain_text("past cases")
    assert page.get_attribute("#token-row", "hidden") is not None
    assert page.locator("#token-row").is_hidden()


def test_payloads_from_ticket_model_and_cases_render_as_text(server, page, fake_llm, tmp_path):
    url, ws = server
    fake_llm.responder = lambda messages: f"Category: Database\nUrgency: High\nSolution: Run {SCRIPT} then {IMG} again."
    problem = f"Error XQ-4711 in the widget report {SCRIPT} {IMG} when exporting"
    case = {"ticket_id": "XSS1", "subject": "Widget report XQ-4711", "body": problem,
            "solution": f"Clear the widget cache {SCRIPT} {IMG} and rerun.", "category": "Reporting"}
    r = httpx.post(url + "/api/cases", json=case, timeout=30)
    assert r.status_code == 201, r.text

    page.goto(url + "/")
    expect(page.locator("#health")).to_contain_text("past cases")
    _submit(page, "Widget report XQ-4711", problem)
    page.wait_for_timeout(500)  # give a failed <img> load the time to fire onerror, were one ever created

    assert page.evaluate("window.__xss") is None
    assert page.evaluate("document.querySelectorAll('#result script, #result img, #cases script, #cases img').length") == 0
    assert page.evaluate("document.querySelectorAll('script').length") == 1  # /static/app.js only
    assert page.evaluate("document.querySelectorAll('img').length") == 0

    cases = page.locator("#cases details.case")
    ids = [cases.nth(i).locator("summary").inner_text().split(" ")[0] for i in range(cases.count())]
    assert "XSS1" in ids
    page.evaluate("document.querySelectorAll('#cases details').forEach((d) => { d.open = true; })")
    shown = page.inner_text("#cases")
    assert SCRIPT in shown and IMG in shown  # the payloads are visible, as text
    assert page.input_value("#draft") == f"Run {SCRIPT} then {IMG} again."
    assert page.input_value("#body") == problem
    _screenshot(page, tmp_path / "page.png")
    assert page.evaluate("window.__xss") is None
    assert page.errors == []


def test_with_a_token_the_page_asks_for_it_and_reads_need_it(token_server, page):
    url, ws = token_server
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(url + "/")
    expect(page.locator("#health")).to_contain_text("past cases")
    assert page.locator("#token-row").is_visible()
    assert httpx.get(url + "/api/search", params={"q": "ORA-00942"}).status_code == 401
    assert httpx.get(url + "/api/cases/C02").status_code == 401 and httpx.get(url + "/docs").status_code == 401
    page.fill("#subject", "Sales report broken")
    page.fill("#body", "ORA-00942 table or view does not exist after the transport of the report")
    page.click("#submit")
    expect(page.locator("#status")).to_contain_text("bearer token")
    page.fill("#token", TOKEN)
    _submit(page, "Sales report broken", "ORA-00942 table or view does not exist after the transport of the report")
    assert page.input_value("#draft") == SOLUTION
    page.click("#accept")
    expect(page.locator("#feedback-status")).to_contain_text("recorded")
    assert [f["agent"] for f in Store(ws.root / "casebase.db").feedback()] == ["token"]
    assert page.errors == [] and violations == []
