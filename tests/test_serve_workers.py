"""`casebase serve --workers N`: processes on one port over one workspace (casebase/serve/workers.py).

The slow tests start the real command in a subprocess over a tiny fake-embedder workspace and tell the workers
apart by which process holds each client connection (psutil), so nothing about the workers is exposed over HTTP.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
TOKEN = "Wk7-pQ2sL9xK4mVv7tB1eR5y"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(ws: Path, workers: int = 2, token: str = TOKEN) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = {**os.environ, "CASEBASE_TOKEN": token, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "casebase", "serve", "-w", str(ws), "--port", str(port),
                             "--workers", str(workers)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited with {proc.returncode}: {proc.stdout.read()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    pytest.fail("serve --workers did not answer /healthz within 90 s")


def _workers(proc: subprocess.Popen) -> list[int]:
    """The pids of the server's worker processes (its children, less multiprocessing's resource tracker)."""
    return [c.pid for c in psutil.Process(proc.pid).children()
            if "resource_tracker" not in " ".join(c.cmdline())]


def _owner(conn: http.client.HTTPConnection, pids: list[int]) -> int | None:
    """The worker that accepted this client connection: the one whose socket has it as its remote end."""
    port = conn.sock.getsockname()[1]
    for pid in pids:
        if any(c.raddr and c.raddr.port == port for c in psutil.Process(pid).net_connections(kind="tcp")):
            return pid
    return None


def _connections(port: int, pids: list[int], per_worker: int) -> dict[int, list[http.client.HTTPConnection]]:
    """Keep-alive connections, ``per_worker`` to each worker (a connection stays with the worker that took it)."""
    found: dict[int, list[http.client.HTTPConnection]] = {pid: [] for pid in pids}
    for _ in range(200):
        if all(len(v) >= per_worker for v in found.values()):
            return found
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        _call(conn, "GET", "/healthz")  # answered: accepted by a worker
        owner = _owner(conn, pids)
        if owner is not None and len(found[owner]) < per_worker:
            found[owner].append(conn)
        else:
            conn.close()
    pytest.fail(f"could not reach every worker: {({p: len(v) for p, v in found.items()})}")


def _call(conn: http.client.HTTPConnection, method: str, path: str, body: dict | None = None,
          headers: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body)
    conn.request(method, path, body=data, headers={**(headers or {}), **({"Content-Type": "application/json"}
                                                                         if body is not None else {})})
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"null")


def _gone(pids: list[int], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_two_workers_share_writes_retained_cases_and_the_token_guard(indexed_ws):
    from casebase.serve.store import Store

    proc, port = _start(indexed_ws.root)
    try:
        pids = _workers(proc)
        assert len(pids) == 2, pids
        conns = _connections(port, pids, per_worker=4)

        for pid, (conn, *_) in conns.items():  # the token guard holds in every worker
            assert _call(conn, "GET", "/api/search?q=ORA-00942")[0] == 401, pid
            assert _call(conn, "GET", "/api/search?q=ORA-00942", headers=AUTH)[0] == 200, pid
            took = []
            for _ in range(15):  # Nagle off (TCP_NODELAY): a small answer is not held for the client's delayed ACK
                t = time.perf_counter()
                _call(conn, "GET", "/healthz")
                took.append(time.perf_counter() - t)
            assert sorted(took)[7] < 0.035, f"worker {pid}: {sorted(took)[7] * 1000:.0f} ms a /healthz (40 ms: Nagle)"

        # concurrent reads and writes through both workers: 8 connections, each suggest -> feedback -> search
        statuses: list[int] = []
        lock = threading.Lock()

        def client(conn: http.client.HTTPConnection, n: int) -> None:
            for i in range(n):
                s, answer = _call(conn, "POST", "/api/suggest", {"body": f"ORA-00942 table missing {i}",
                                                                 "arm": "retrieval"}, AUTH)
                got = [s]
                if s == 200:
                    got.append(_call(conn, "POST", "/api/feedback", {"suggestion_id": answer["id"],
                                                                     "verdict": "rejected"}, AUTH)[0])
                got.append(_call(conn, "GET", "/api/search?q=ME21N%20pricing%20error&k=3", headers=AUTH)[0])
                with lock:
                    statuses.extend(got)

        threads = [threading.Thread(target=client, args=(c, 10)) for cs in conns.values() for c in cs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert len(statuses) == 8 * 10 * 3 and set(statuses) == {200}, sorted(set(statuses))
        assert len(Store(indexed_ws.db).feedback()) == 80  # every write landed: none lost to "database is locked"

        # a case retained through worker A is found through /api/search by worker B within a second
        a, b = pids
        conn_a, conn_b = conns[a][0], conns[b][0]
        s, answer = _call(conn_a, "POST", "/api/suggest", {"body": "Gizmotron ZQX-4711 frobnicator jams at start"}, AUTH)
        assert s == 200
        s, fb = _call(conn_a, "POST", "/api/feedback", {"suggestion_id": answer["id"], "verdict": "edited",
                                                        "final_text": "Re-seat the ZQX-4711 frobnicator belt.",
                                                        "retain": True, "case_id": "NEW-1"}, AUTH)
        retained_at = time.monotonic()
        assert s == 200 and fb["retained"]["case_id"] == "NEW-1", fb
        found_after: dict[int, float] = {}
        while len(found_after) < 2 and time.monotonic() - retained_at < 5:
            for pid, conn in ((a, conn_a), (b, conn_b)):
                sent = time.monotonic() - retained_at
                s, hit = _call(conn, "GET", "/api/search?q=ZQX-4711%20frobnicator%20gizmotron&k=3", headers=AUTH)
                assert s == 200
                if any(r["case_id"] == "NEW-1" for r in hit["results"]):
                    found_after.setdefault(pid, sent)
                else:  # a search sent more than a second after the retain must find it
                    assert sent <= 1.0, f"worker {pid} still misses the retained case {sent:.2f} s after"
            time.sleep(0.05)
        assert set(found_after) == {a, b}, found_after
        assert _call(conn_b, "GET", "/api/cases/NEW-1", headers=AUTH)[0] == 200
        # the same id through the other worker is refused, not retained twice
        s, other = _call(conn_b, "POST", "/api/suggest", {"body": "frobnicator again", "arm": "retrieval"}, AUTH)
        assert _call(conn_b, "POST", "/api/feedback", {"suggestion_id": other["id"], "verdict": "edited",
                                                       "final_text": "x y z", "retain": True, "case_id": "NEW-1"},
                     AUTH)[0] == 409
        for cs in conns.values():
            for c in cs:
                c.close()
    finally:
        workers = _workers(proc) if proc.poll() is None else []
        proc.send_signal(signal.SIGTERM)  # Ctrl+C's clean stop: the parent stops every worker, then exits 0
        rc = proc.wait(timeout=30)
    assert rc == 0, proc.stdout.read()
    assert _gone(workers, 5), "a worker outlived its stopped parent"


@pytest.mark.slow
def test_kill_9_of_the_parent_leaves_no_worker_running(indexed_ws):
    proc, _ = _start(indexed_ws.root)
    pids = _workers(proc)
    assert len(pids) == 2
    proc.kill()
    proc.wait(timeout=10)
    assert _gone(pids, 5), "workers kept running after kill -9 of their parent"


def test_a_release_that_cannot_be_served_fails_once_before_any_worker_starts(indexed_ws, monkeypatch):
    from casebase.cli import app

    started = []
    monkeypatch.setattr("casebase.serve.workers.run_workers", lambda *a, **k: started.append(a))

    def serve(*flags: str):
        r = CliRunner().invoke(app, ["serve", "-w", str(indexed_ws.root), "--port", str(_free_port()),
                                     "--workers", "2", *flags])
        return r.exit_code, " ".join(r.output.split())

    code, output = serve("--release", "nope")
    assert code == 2 and "nope" in output and not started, output
    code, output = serve("--languages", "kl")
    assert code == 2 and "choose from" in output and not started, output
    code, output = serve()
    assert code == 0 and "with 2 workers" in output and len(started) == 1, output
    assert (indexed_ws.db).exists()  # casebase.db made once by the parent, not raced for by the workers


def test_a_worker_that_cannot_start_records_why_stops_the_parent_and_exits(tmp_path, monkeypatch):
    from uvicorn.config import STARTUP_FAILURE

    from casebase.serve import workers

    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])  # stands in for the parent
    try:
        failure = tmp_path / "failed.txt"
        monkeypatch.setattr(workers, "watch_parent", lambda pid: None)
        monkeypatch.setenv(workers.WORKER_ENV, json.dumps({
            "workspace": str(tmp_path / "missing"), "config": {}, "languages": None, "parent": parent.pid,
            "failure": str(failure)}))
        with pytest.raises(SystemExit) as exit_:
            workers.worker_app()
        assert exit_.value.code == STARTUP_FAILURE
        assert failure.read_text().startswith("a worker could not start: ") and "missing" in failure.read_text()
        assert parent.wait(timeout=5) == -signal.SIGTERM
    finally:
        parent.kill()


def _open_store(path: str, barrier) -> str:
    from casebase.serve.store import Store

    barrier.wait()
    try:
        store = Store(Path(path))
        store.add_feedback(store.add_suggestion("s", "body", "problem", {"arm": "retrieval"}), "accepted", None)
    except Exception as err:  # noqa: BLE001 - the test reports it
        return f"{type(err).__name__}: {err}"
    return "ok"


def test_processes_opening_a_new_casebase_db_at_once_all_succeed(tmp_path):
    """Each worker opens casebase.db; on a new (or older) database they once raced: 'database is locked' from the
    switch to WAL, 'duplicate column name' from two migrations."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(6) as pool:
        for trial in range(3):
            barrier = manager.Barrier(6)
            results = pool.starmap(_open_store, [(str(tmp_path / f"casebase-{trial}.db"), barrier)] * 6)
            assert results == ["ok"] * 6, results
