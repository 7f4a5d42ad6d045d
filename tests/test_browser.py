"""The agents' page and the insights page in a real browser: every element and state, and no XSS.

Needs Debian's chromium at /usr/bin/chromium and the playwright pip package (`make browser` installs
both; playwright's own browser download cannot work here and is never used). Without them every test
here skips with the reason. The app runs under uvicorn in a background thread on a free loopback port,
over a tiny workspace with the fake embedder and a fake LLM, so each test takes a few seconds.

The screenshots in docs/img/ are taken by these tests: `SCREENSHOT_DIR=docs/img .venv/bin/python -m pytest
tests/test_browser.py` writes them there (else into each test's tmp_path).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import socket
import sqlite3
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

# The first sentence comes from case C02's solution; the second is the model's own (no citation).
SOLUTION = ("Grant SELECT on the new table to the SAPSR3 schema. "
            "Then ask the user to start the report again from the menu.")
FORMATTED = f"Category: Database\nUrgency: High\nSolution: {SOLUTION}"
ORA = ("Sales report broken", "ORA-00942 table or view does not exist after the transport of the report")
CREDIT = ("Delivery blocked", "Credit block on the sales order in VA01 prevents the delivery")
PAYROLL = ["Payroll run PY-301 stops with error PAYR-17 for the night shift employees",
           "PAYR-17 error in the payroll run PY-301 for night shift employees again",
           "Payroll run PY-301 fails with PAYR-17, night shift employees are missing"]
SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=2">'
SHOTS = Path(os.environ["SCREENSHOT_DIR"]) if os.environ.get("SCREENSHOT_DIR") else None


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
    """(base URL, workspace) of a server that needs TOKEN on every route but the pages and /healthz."""
    with _serving(ws, token=TOKEN) as url:
        yield url, ws


@pytest.fixture
def page():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1200, "height": 860},
                                  permissions=["clipboard-read", "clipboard-write"])
            pg.set_default_timeout(15_000)
            errors: list[str] = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.errors = errors
            yield pg
        finally:
            browser.close()


def _submit(page, subject: str, body: str, keyboard: bool = False) -> None:
    page.fill("#subject", subject)
    page.fill("#body", body)
    page.locator("#status").evaluate("el => { el.textContent = ''; }")
    if keyboard:
        page.press("#body", "Control+Enter")
    else:
        page.click("#submit")
    expect(page.locator("#status")).to_contain_text("done in")
    page.wait_for_selector("#cases article.case", state="attached")


def _screenshot(page, name: str, tmp_path: Path) -> Path:
    """A full-page PNG, reduced to a 256-colour palette (the docs' copies stay well under 150 KB)."""
    from PIL import Image

    path = (SHOTS or tmp_path) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"screenshot: {path} ({path.stat().st_size // 1024} KB)")
    return path


def _no_xss(page) -> None:
    page.wait_for_timeout(300)  # give a failed <img> load the time to fire onerror, were one ever created
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("document.querySelectorAll('main script, main img, aside script, aside img').length") == 0
    assert page.evaluate("document.querySelectorAll('img').length") == 0


def test_answer_with_citations_labels_copy_and_accept(server, page, tmp_path):
    url, ws = server
    page.goto(url + "/")
    expect(page.locator("#health")).to_contain_text("past cases")
    assert page.locator("#token-row").is_hidden()  # no token on this server
    _submit(page, *ORA)

    # the draft, sentence by sentence, with the case each sentence comes from
    assert page.inner_text("#draft-view").startswith("Grant SELECT on the new table to the SAPSR3 schema. [1]")
    cites = page.locator("#draft-view a.cite")
    assert cites.count() == 1 and cites.first.inner_text() == "[1]"  # the model's own sentence cites nothing
    assert cites.first.get_attribute("href") == "#case-1" and "C02" in cites.first.get_attribute("title")
    cites.first.click()
    expect(page.locator("#case-1")).to_have_class("case flash")
    assert page.input_value("#draft") == SOLUTION and page.locator("#draft").is_hidden()
    expect(page.locator("#model")).to_contain_text("fake")
    expect(page.locator("#triage")).to_contain_text("Database")
    assert page.locator("#abstained").is_hidden() and page.locator("#accept").is_visible()

    # each cited case: a plain similarity label (never the RRF score), its full solution shown without a click
    first = page.locator("#cases article.case").first
    assert first.get_attribute("data-case-id") == "C02"
    assert first.locator(".sim").inner_text() in ("close", "related")
    assert "% of the bar" in first.inner_text() and "score" not in page.inner_text("#cases")
    assert first.locator(".solution").is_visible()
    assert "Grant SELECT on the new table to the SAPSR3 schema" in first.locator(".solution").inner_text()
    assert first.locator("details.ticket .problem").is_hidden()
    page.click("#expand-all")  # every cited ticket at once
    assert all(d.is_visible() for d in page.locator("#cases details.ticket .problem").all())
    expect(page.locator("#expand-all")).to_have_text("Hide the tickets")

    page.click("#copy")
    expect(page.locator("#copy-status")).to_have_text("copied")
    assert page.evaluate("navigator.clipboard.readText()") == SOLUTION  # the answer, without markers

    page.click("#accept")
    expect(page.locator("#feedback-status")).to_contain_text("recorded")
    expect(page.locator("#history-list li").first).to_contain_text("accepted")
    _screenshot(page, "page-answer.png", tmp_path)
    feedback = Store(ws.root / "casebase.db").feedback()
    assert [f["verdict"] for f in feedback] == ["accepted"] and feedback[0]["final_text"] == SOLUTION
    assert page.errors == []


def test_copy_without_the_clipboard_api_falls_back(server, page):
    url, _ = server
    page.goto(url + "/")
    _submit(page, *ORA)
    page.evaluate("Object.defineProperty(navigator, 'clipboard', { value: undefined })")  # as on plain http
    page.click("#copy")
    expect(page.locator("#copy-status")).to_have_text("copied")
    assert page.locator("textarea.offscreen").count() == 0 and page.errors == []


def test_abstained_says_no_precedent_and_hides_the_draft(server, page, tmp_path):
    url, ws = server
    page.goto(url + "/")
    _submit(page, "Payroll", PAYROLL[0])
    expect(page.locator("#abstained")).to_be_visible()
    expect(page.locator("#abstained")).to_contain_text("No precedent close enough")
    expect(page.locator("#abstained-detail")).to_contain_text("% of the calibrated similarity bar")
    for hidden in ("#draft-block", "#draft", "#draft-view", "#accept", "#edit", "#copy"):
        assert page.locator(hidden).is_hidden(), hidden
    expect(page.locator("#cases-title")).to_have_text("Not similar enough")
    labels = {s.inner_text() for s in page.locator("#cases .sim").all()}
    assert labels == {"weak"}
    triage = page.inner_text("#triage")  # no "Payroll (100%)" from the vote of cases that are not similar
    assert "not guessed" in triage and "%" not in triage
    expect(page.locator("#history-list li").first).to_contain_text("abstained")
    _screenshot(page, "page-abstained.png", tmp_path)
    assert Store(ws.root / "casebase.db").feedback() == [] and page.errors == []


def test_ctrl_enter_suggests(server, page):
    url, _ = server
    page.goto(url + "/")
    _submit(page, *ORA, keyboard=True)
    assert page.locator("#cases article.case").count() >= 1 and page.errors == []


def test_edit_then_save_records_the_edit(server, page):
    url, ws = server
    page.goto(url + "/")
    _submit(page, *ORA)
    assert page.locator("#edit").is_hidden()
    page.click("#edit-toggle")
    assert page.locator("#draft").is_visible() and page.locator("#accept").is_hidden()
    page.click("#edit")
    expect(page.locator("#feedback-status")).to_contain_text("nothing was changed")
    page.fill("#draft", "Grant SELECT on ZSALES to SAPSR3.")
    page.click("#edit")
    expect(page.locator("#feedback-status")).to_contain_text("recorded (edited")
    page.click("#copy")
    assert page.evaluate("navigator.clipboard.readText()") == "Grant SELECT on ZSALES to SAPSR3."
    page.click("#edit-toggle")  # cancel: back to the draft with its citations
    assert page.locator("#draft-view").is_visible() and page.input_value("#draft") == SOLUTION
    assert [(f["verdict"], f["final_text"]) for f in Store(ws.root / "casebase.db").feedback()] == \
        [("edited", "Grant SELECT on ZSALES to SAPSR3.")]


def test_history_finds_a_suggestion_again_with_its_feedback(server, page, tmp_path):
    url, _ = server
    page.goto(url + "/")
    expect(page.locator("#history-empty")).to_be_visible()
    _submit(page, *ORA)
    page.click("#reject")
    expect(page.locator("#feedback-status")).to_contain_text("recorded")
    _submit(page, *CREDIT)
    _submit(page, "Payroll", PAYROLL[1])

    page.reload()  # kept in this browser (localStorage), newest first
    items = page.locator("#history-list li")
    expect(items).to_have_count(3)
    assert "abstained" in items.nth(0).inner_text() and "no feedback" in items.nth(1).inner_text()
    assert "rejected" in items.nth(2).inner_text() and "ORA-00942" in items.nth(2).inner_text()
    page.fill("#history-filter", "ora-00942")
    expect(items).to_have_count(1)
    items.first.locator("button").click()
    expect(page.locator("#status")).to_contain_text("suggestion of")
    assert page.input_value("#body") == ORA[1] and page.input_value("#subject") == ORA[0]
    expect(page.locator("#feedback-status")).to_contain_text("your feedback: rejected")
    assert page.locator("#draft-view a.cite").count() == 1
    page.fill("#history-filter", "no such ticket")
    expect(page.locator("#history-empty")).to_have_text("No suggestion matches.")
    page.fill("#history-filter", "")
    expect(items).to_have_count(3)
    _screenshot(page, "page-history.png", tmp_path)
    page.click("#history-clear")
    expect(items).to_have_count(0)
    assert page.errors == []


def _seed_insights(url: str, ws) -> None:
    """Three weeks of suggestions over two arms, with feedback and a recurring problem without precedent."""
    def suggest(subject: str, body: str, arm: str | None = None) -> str:
        r = httpx.post(url + "/api/suggest", json={"subject": subject, "body": body} | ({"arm": arm} if arm else {}),
                       timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["id"]

    plan = []
    for day in range(21):
        for i in range(1 + day % 4):
            ticket = CREDIT if (day + i) % 3 == 0 else ORA
            arm = "retrieval" if (day + i) % 2 else None
            verdict = ["accepted", "edited", "rejected", None, "accepted"][(day + i) % 5]
            plan.append((day, suggest(*ticket, arm=arm), verdict))
        if day % 5 == 0:
            plan.append((day, suggest("Payroll", PAYROLL[day % 3]), None))
    plan.append((2, suggest("Printer", "Printer in hall 3 prints blank pages since Monday"), None))
    for _, sid, verdict in plan:
        if verdict:
            r = httpx.post(url + "/api/feedback", json={"suggestion_id": sid, "verdict": verdict,
                                                          "final_text": "Edited." if verdict == "edited" else None})
            assert r.status_code == 200, r.text
    now = dt.datetime.now(dt.timezone.utc)
    with sqlite3.connect(ws.db) as conn:
        for day, sid, _ in plan:
            when = (now - dt.timedelta(days=day)).isoformat(timespec="seconds")
            conn.execute("UPDATE suggestions SET created_at = ? WHERE id = ?", (when, sid))


def test_insights_page_with_data(server, page, tmp_path):
    url, ws = server
    _seed_insights(url, ws)
    data = httpx.get(url + "/api/insights").json()
    page.goto(url + "/insights")
    expect(page.locator("#report")).to_be_visible()
    totals = page.inner_text("#totals")
    assert f"{data['totals']['suggestions']}\nsuggestions" in totals and "abstained" in totals
    assert page.locator("#per-day svg g.day").count() == 30  # every day of the window, empty ones too
    assert page.locator("#by-arm svg .rate-accepted").count() == 2  # base+rag and retrieval
    assert page.locator("#by-arm-table tbody tr").count() == len(data["by_arm"]) == 2
    assert page.locator("#by-category-table tbody tr").count() == len(data["by_category"])
    groups = page.locator("#missing li")
    assert groups.count() == 2 and groups.first.locator(".count").inner_text() == "5 tickets"
    assert "py-301" in groups.first.inner_text() and groups.first.locator(".example").count() == 3
    assert "suggestions" in page.locator("#per-day svg title").first.text_content()  # a tooltip per day
    _screenshot(page, "insights.png", tmp_path)
    page.select_option("#days", "7")
    expect(page.locator("#per-day svg g.day")).to_have_count(7)
    assert page.errors == []


def test_user_text_renders_as_text_on_both_pages(server, page, fake_llm, tmp_path):
    url, ws = server
    fake_llm.responder = lambda messages: f"Category: Widgets {IMG}\nUrgency: High\nSolution: Run {SCRIPT} then {IMG} again [1]."
    problem = f"Error XQ-4711 in the widget report {SCRIPT} {IMG} when exporting"
    case = {"ticket_id": "XSS1", "subject": "Widget report XQ-4711", "body": problem,
            "solution": f"Clear the widget cache {SCRIPT} {IMG} and rerun.", "category": f"Reporting {SCRIPT}"}
    r = httpx.post(url + "/api/cases", json=case, timeout=30)
    assert r.status_code == 201, r.text

    page.goto(url + "/")
    expect(page.locator("#health")).to_contain_text("past cases")
    _submit(page, "Widget report XQ-4711", problem)
    _no_xss(page)
    ids = [c.get_attribute("data-case-id") for c in page.locator("#cases article.case").all()]
    assert "XSS1" in ids
    page.click("#expand-all")
    shown = page.inner_text("#cases")
    assert SCRIPT in shown and IMG in shown  # the payloads are visible, as text
    assert page.inner_text("#draft-view") == f"Run {SCRIPT} then {IMG} again [1]."  # the model's [1] is a link
    assert page.locator("#draft-view a.cite").count() == 1
    assert IMG in page.inner_text("#triage")
    assert page.input_value("#body") == problem
    _submit(page, "Payroll", f"{SCRIPT} {IMG} payroll PY-301 PAYR-17 night shift")  # abstained: into insights
    page.reload()
    assert SCRIPT in page.inner_text("#history-list")  # the history's titles are text too
    page.locator("#history-list li button").last.click()
    expect(page.locator("#status")).to_contain_text("suggestion of")
    _no_xss(page)

    page.goto(url + "/insights")
    expect(page.locator("#report")).to_be_visible()
    _no_xss(page)
    assert SCRIPT in page.inner_text("#missing") and IMG in page.inner_text("#by-category-table")
    assert page.evaluate("document.querySelectorAll('svg script, svg foreignObject').length") == 0
    assert page.evaluate("window.__xss") is None and page.errors == []


def test_with_a_token_the_pages_ask_for_it_and_reads_need_it(token_server, page):
    url, ws = token_server
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(url + "/")
    expect(page.locator("#health")).to_contain_text("past cases")
    assert page.locator("#token-row").is_visible()
    for path in ("/api/search?q=ORA-00942", "/api/cases/C02", "/docs", "/api/insights", "/api/suggestions/x"):
        assert httpx.get(url + path).status_code == 401, path
    page.fill("#subject", ORA[0])
    page.fill("#body", ORA[1])
    page.click("#submit")
    expect(page.locator("#status")).to_contain_text("bearer token")
    page.fill("#token", TOKEN)
    _submit(page, *ORA)
    assert page.input_value("#draft") == SOLUTION
    page.click("#accept")
    expect(page.locator("#feedback-status")).to_contain_text("recorded")
    assert [f["agent"] for f in Store(ws.root / "casebase.db").feedback()] == ["token"]

    page.goto(url + "/insights")  # the token this browser gave is used again
    expect(page.locator("#report")).to_be_visible()
    assert page.locator("#token-row").is_visible()
    expect(page.locator("#totals .total b").first).to_have_text("1")  # one suggestion
    page.evaluate("localStorage.clear()")
    page.reload()
    assert page.locator("#report").is_hidden()  # no token: nothing is read
    page.click("#load")
    expect(page.locator("#status")).to_contain_text("bearer token")
    assert page.errors == [] and violations == []
