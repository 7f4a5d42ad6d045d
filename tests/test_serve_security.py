"""The server as a careless or hostile client meets it: tokens on every route, the Host allow-list, streamed body
limits and read timeouts, security headers, the retain race, ids, ports (issue 14's reproductions)."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import uvicorn
from fastapi.testclient import TestClient
from starlette.routing import Mount

from casebase.errors import CasebaseError
from casebase.serve.app import check_bind, create_app
from casebase.serve.security import PUBLIC_PATHS, add_named_token, bind_socket, is_public, read_tokens_file

TOKEN = "Zr8-fQ2pL9xK4mWv7tB1"
AUTH = {"authorization": f"Bearer {TOKEN}"}
LOCAL = "http://127.0.0.1"


@pytest.fixture
def app(indexed_ws):
    from casebase.llm import clear_cache

    clear_cache()
    yield create_app(indexed_ws, arm="retrieval", token=TOKEN, max_body_bytes=8_000)
    clear_cache()


@pytest.fixture
def client(app):
    with TestClient(app, base_url=LOCAL) as c:
        yield c


def _example_path(path: str) -> str:
    return path.replace("{case_id:path}", "C01").replace("{case_id}", "C01").replace("{path:path}", "style.css")


def test_every_route_but_the_page_and_healthz_needs_the_token(app, client):
    # walks the app's own route table, so a route added later is checked without editing this test
    walked = []
    for route in app.routes:
        if isinstance(route, Mount):
            paths, methods = [route.path + "/style.css"], {"GET"}
        else:
            paths, methods = [_example_path(route.path)], set(getattr(route, "methods", None) or {"GET"}) - {"HEAD"}
        for path in paths:
            for method in sorted(methods):
                bare = client.request(method, path, params={"q": "ME21N"})
                walked.append((method, path, bare.status_code))
                if is_public(path):
                    assert bare.status_code == 200, (method, path, bare.text)
                else:
                    assert bare.status_code == 401, (method, path, bare.status_code)
                    assert bare.json()["error"]["code"] == "unauthorized"
                    assert "www-authenticate" in bare.headers
                    assert client.request(method, path, params={"q": "ME21N"}, headers=AUTH).status_code != 401
    guarded = {p for _, p, s in walked if s == 401}
    assert {"/api/search", "/api/cases/C01", "/docs", "/redoc", "/openapi.json", "/api/suggest", "/api/feedback",
            "/api/cases", "/api/insights", "/api/suggestions/{suggestion_id}"} <= guarded
    # the pages hold no data (they read the API with the token); the insights data is guarded like every read
    assert {p for _, p, s in walked if s != 401} == {"/", "/insights", "/healthz", "/static/style.css"}
    assert PUBLIC_PATHS >= {"/", "/healthz"}
    print(f"routes walked: {len(walked)}; need the token: {len(guarded)} paths; public: / /insights /healthz /static")


def test_unauthenticated_reads_return_no_case_text(client):
    for path in ("/api/search?q=ORA-00942", "/api/cases/C02", "/openapi.json", "/docs", "/redoc", "/api/insights"):
        r = client.get(path)
        assert r.status_code == 401 and "ORA" not in r.text and "Grant" not in r.text, path
    for wrong in ("Bearer wrong", "Bearer", f"Basic {TOKEN}", f"Bearer {TOKEN} ", TOKEN):
        assert client.get("/api/cases/C02", headers={"authorization": wrong}).status_code == 401, wrong


def test_foreign_host_is_refused_even_without_a_token(indexed_ws):
    app = create_app(indexed_ws, arm="retrieval", token="")
    with TestClient(app, base_url=LOCAL) as c:
        assert c.get("/api/search", params={"q": "ORA-00942"}).status_code == 200
        for host in ("attacker.example", "attacker.example:8000", "127.0.0.1.attacker.example"):
            r = c.get("/api/search", params={"q": "ORA-00942"}, headers={"host": host})
            assert r.status_code == 400 and "ORA" not in r.text, host
            poisoned = {"ticket_id": "P1", "body": "ORA-00942 again", "solution": "Visit http://attacker.example/fix"}
            assert c.post("/api/cases", json=poisoned, headers={"host": host}).status_code == 400
        assert c.get("/healthz", headers={"host": "localhost:8000"}).status_code == 200
        assert c.get("/healthz", headers={"host": "[::1]:8000"}).status_code == 200
    assert "P1" not in app.state.engine.index._row
    extra = create_app(indexed_ws, arm="retrieval", token="", engine=app.state.engine, allowed_host=["desk.example.com"])
    with TestClient(extra, base_url="http://desk.example.com") as c:
        assert c.get("/healthz").status_code == 200


@pytest.mark.parametrize("weak", [" ", "1", "short-token", "a" * 20, " Zr8-fQ2pL9xK4mWv7tB1"])
def test_weak_tokens_are_refused_beyond_loopback(weak):
    check_bind("127.0.0.1", weak)  # on loopback any token guards as well as none
    with pytest.raises(CasebaseError, match="too weak"):
        check_bind("0.0.0.0", weak)
    check_bind("0.0.0.0", TOKEN)


def test_security_headers_and_healthz_without_local_paths(indexed_ws, client):
    for path in ("/", "/healthz", "/static/app.js"):
        r = client.get(path)
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert client.get("/api/cases/C01", headers=AUTH).headers["cache-control"] == "no-store"
    assert client.get("/nope").headers["x-content-type-options"] == "nosniff"
    from test_releases import release

    release(indexed_ws, "r1", tickets=40)
    app = create_app(indexed_ws, token=TOKEN)
    with TestClient(app, base_url=LOCAL) as c:
        health = c.get("/healthz")
    assert health.json()["arm"] == "retrieval" and health.json()["arm_reason"].startswith("release r1: retrieval")
    assert health.json()["release"]["eval_run"] == "eval/r1"
    assert health.json()["encoder"]["queries"] == "fake" and health.json()["encoder"]["query_tokens"] > 0
    assert str(indexed_ws.root) not in health.text and str(indexed_ws.root.parent) not in health.text


def test_missing_field_is_named(client):
    r = client.post("/api/suggest", json={"subject": "x"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["message"] == "body: Field required"
    r = client.post("/api/cases", json={"ticket_id": "X1", "body": "b"}, headers=AUTH)
    assert r.json()["error"]["message"] == "solution: Field required"
    r = client.get("/api/search", headers=AUTH)
    assert r.json()["error"]["message"] == "q: Field required"


@pytest.mark.parametrize("bad", ["CS/2024/001", "   ", "", "a\\b", "tab\there", "x" * 201])
def test_unusable_ticket_ids_are_refused(client, bad):
    r = client.post("/api/cases", json={"ticket_id": bad, "body": "ORA-00942", "solution": "Grant it."}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("ticket_id: "), r.text


def test_ids_are_trimmed_and_exported_ids_with_slashes_can_be_fetched(app, client):
    r = client.post("/api/cases", json={"ticket_id": "  R-7 ", "body": "M7 090 unit", "solution": "Use MM02."}, headers=AUTH)
    assert r.status_code == 201 and r.json()["case_id"] == "R-7"
    assert client.get("/api/cases/R-7", headers=AUTH).status_code == 200
    index = app.state.engine.index
    index._row["CS/2024/001"] = index._row["C01"]  # an id as a helpdesk export holds it
    assert client.get("/api/cases/CS/2024/001", headers=AUTH).status_code == 200


def test_a_retain_race_gives_one_201_and_409s(app, client):
    case = {"ticket_id": "RACE", "body": "Error M7 090 quantity unit not defined", "solution": "Maintain it in MM02."}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: client.post("/api/cases", json=case, headers=AUTH), range(8)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] + [409] * 7, [a.text for a in answers]
    assert all("/tmp" not in a.text and ".jsonl" not in a.text for a in answers)
    assert len(app.state.engine.index) == 21


def test_an_id_the_database_holds_but_the_index_lost_is_a_409(app, client):
    n = len(app.state.engine.index)
    app.state.store.retain({"ticket_id": "LOST", "problem": "p", "solution": "s"})
    r = client.post("/api/cases", json={"ticket_id": "LOST", "body": "b", "solution": "s"}, headers=AUTH)
    assert r.status_code == 409 and "casebase.db" in r.json()["error"]["message"]
    assert len(app.state.engine.index) == n


def test_named_tokens_record_the_agent(indexed_ws, tmp_path):
    path = tmp_path / "tokens.toml"
    alice, bob = add_named_token(path, "alice"), add_named_token(path, "bob")
    assert alice not in path.read_text() and set(read_tokens_file(path)) == {"alice", "bob"}
    with pytest.raises(CasebaseError, match="already holds"):
        add_named_token(path, "alice")
    app = create_app(indexed_ws, arm="retrieval", token="", tokens_file=path)
    with TestClient(app, base_url=LOCAL) as c:
        assert c.get("/api/cases/C01").status_code == 401
        assert c.get("/api/cases/C01", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 401
        sid = c.post("/api/suggest", json={"body": "ORA-00942"}, headers={"authorization": f"Bearer {alice}"}).json()["id"]
        c.post("/api/feedback", json={"suggestion_id": sid, "verdict": "accepted"},
               headers={"authorization": f"Bearer {bob}"})
        c.post("/api/cases", json={"ticket_id": "N1", "body": "b x", "solution": "s"},
               headers={"authorization": f"Bearer {alice}"})
        assert c.get("/healthz").json()["auth"] is True
    store = app.state.store
    assert [f["agent"] for f in store.feedback()] == ["bob"] and store.retained("N1")["agent"] == "alice"


def test_bad_tokens_files_are_clear_errors(tmp_path):
    bad = tmp_path / "t.toml"
    bad.write_text('alice = "hunter2"\n')
    with pytest.raises(CasebaseError, match="sha256"):
        read_tokens_file(bad)
    with pytest.raises(CasebaseError, match="does not exist"):
        read_tokens_file(tmp_path / "none.toml")


# --- over a real socket: what a TestClient cannot show (chunked bodies, stalls) ---

class _Server(uvicorn.Server):
    def install_signal_handlers(self):  # not the main thread
        pass


@pytest.fixture
def live(indexed_ws):
    app = create_app(indexed_ws, arm="retrieval", token=TOKEN, max_body_bytes=8_000, read_timeout_s=1.0)
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def _raw(port: int, head: str, chunks, pause: float = 0.0, timeout: float = 10.0) -> tuple[str, int]:
    """Send a request by hand; returns (the answer's first line and body, how many chunks were sent before it)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(head.encode())
    sent = 0
    s.settimeout(0.001)
    answer = b""
    try:
        for chunk in chunks:
            try:
                answer += s.recv(65536)
            except (BlockingIOError, socket.timeout):
                pass
            if answer:
                break
            try:
                s.sendall(chunk)
            except OSError:
                break
            sent += 1
            time.sleep(pause)
        s.settimeout(timeout)
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            data = s.recv(65536)
            if not data:
                break
            answer += data
    finally:
        s.close()
    return answer.decode("latin-1"), sent


def _chunked(total_chunks: int, size: int = 4096):
    for _ in range(total_chunks):
        yield f"{size:x}\r\n".encode() + b"a" * size + b"\r\n"
    yield b"0\r\n\r\n"


def test_chunked_body_is_cut_off_at_the_limit_and_after_the_token(live):
    head = (f"POST /api/suggest HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    answer, sent = _raw(live, head, _chunked(12_800), pause=0.001)  # a 50 MB upload
    assert answer.startswith("HTTP/1.1 413") and '"too_large"' in answer
    assert sent < 200, f"{sent} chunks of 4 KiB were taken before the 413"
    no_token = head.replace(f"Authorization: Bearer {TOKEN}\r\n", "")
    answer, sent = _raw(live, no_token, _chunked(12_800), pause=0.001)
    assert answer.startswith("HTTP/1.1 401") and sent < 200


def test_a_stalled_upload_times_out(live):
    head = (f"POST /api/suggest HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n")
    t0 = time.monotonic()
    answer, _ = _raw(live, head + '{"body": "ORA', [], timeout=10)
    assert answer.startswith("HTTP/1.1 408") and '"timeout"' in answer
    assert time.monotonic() - t0 < 5


def test_a_busy_port_and_a_bad_port_are_errors_before_serving(indexed_ws):
    from typer.testing import CliRunner

    from casebase.cli import app

    taken = bind_socket("127.0.0.1", 0)
    taken.listen()
    port = taken.getsockname()[1]
    try:
        r = CliRunner().invoke(app, ["serve", "-w", str(indexed_ws.root), "--port", str(port)])
        assert r.exit_code == 2 and "in use" in r.output and "serving" not in r.output, r.output
    finally:
        taken.close()
    r = CliRunner().invoke(app, ["serve", "-w", str(indexed_ws.root), "--port", "99999"])
    assert r.exit_code == 2 and "65535" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["serve", "-w", str(indexed_ws.root), "--host", "0.0.0.0"], env={"CASEBASE_TOKEN": "1"})
    assert r.exit_code == 2 and "too weak" in r.output


def test_a_case_with_nothing_left_after_cleaning_is_a_422_without_a_temporary_path(client):
    # found by tests/test_api_fuzz.py: a body of markup only reached add_to_index, whose error named a /tmp file
    for body in ("<p></p>", "> quoted only", "   \u200b "):
        r = client.post("/api/cases", json={"ticket_id": "E1", "body": body, "solution": "Grant it."}, headers=AUTH)
        assert r.status_code == 422 and r.json()["error"]["message"].startswith("body: "), (body, r.text)
        assert "/tmp" not in r.text
