"""Loopback load on `casebase serve`: latency, throughput and errors of POST /api/suggest under concurrency.

    .venv/bin/python bench/serve_load.py [--workspace WS]          # retrieval-only, then generation
    .venv/bin/python bench/serve_load.py --skip-generation          # retrieval-only (about a minute)
    .venv/bin/python bench/serve_load.py --gen-requests 2           # a short generation scenario
    .venv/bin/python bench/serve_load.py --skip-generation --index-model fake:384   # the stack without the MiniLM cost

Workspace: --workspace, else /tmp/ws-forum when it has index/manifest.json, else a small one built
here in a temporary folder (300 synthetic tickets: sample -> ingest -> extract -> split -> index, as
`casebase demo` does). The server runs on a temporary copy of the workspace (models/ linked, not
copied), so the suggestions it stores in casebase.db never land in the workspace itself.
--index-model re-indexes that copy with another embedder first (`casebase index --model` semantics):
`fake:384`, the hashing test embedder (well under 1 ms a query), gives the floor of the HTTP stack,
search, triage and SQLite when the query encoder costs next to nothing; quality is not measured here.

The server is `python -m casebase serve --workspace WS --port P` in a subprocess on 127.0.0.1, without
CASEBASE_TOKEN. The client is closed-loop: N threads, one httpx.Client each, share a fixed number of
requests; each request's latency is wall time around the HTTP call (the client's own overhead
included, so the numbers are an upper bound on the server's). Ticket texts are the problems of the
workspace's test.jsonl (else val/train), in a fixed shuffled order.

Scenarios, each at concurrency --concurrency (default 1, 8, 32):
  retrieval   {"subject": "", "body": text, "arm": "retrieval"}, --requests per level (default 200).
              Target: p99 < 100 ms at 32 concurrent, zero errors.
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
TARGET_P99_MS = 100.0
TARGET_CONCURRENCY = 32


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


def start_server(ws: Path, port: int, log_path: Path, arm: str | None, wait_s: float = 300) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "CASEBASE_TOKEN"}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, "-m", "casebase", "serve", "--workspace", str(ws), "--port", str(port)]
    if arm:
        cmd += ["--arm", arm]
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_server(proc)
    raise SystemExit(f"server did not answer /healthz within {wait_s:.0f} s:\n{log_path.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_level(url: str, texts: list[str], n_requests: int, concurrency: int, timeout_s: float,
              arm: str | None) -> dict:
    """``n_requests`` POST /api/suggest shared by ``concurrency`` closed-loop client threads."""
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
                payload = {"subject": "", "body": texts[i % len(texts)]}
                if arm:
                    payload["arm"] = arm
                t0 = time.perf_counter()
                try:
                    r = client.post("/api/suggest", json=payload)
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


def show(title: str, rows: list[dict]) -> None:
    cols = ["concurrency", "in_flight_max", "requests", "errors", "p50_ms", "p90_ms", "p99_ms", "max_ms", "throughput_rps",
            "server_total_p50_ms", "abstained"]
    print(f"\n{title}")
    widths = [max(len(c), *(len(str(r.get(c))) for r in rows)) for c in cols]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(str(r.get(c)).rjust(w) for c, w in zip(cols, widths)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", type=Path, help="workspace with an index [default: /tmp/ws-forum if indexed, "
                                                   "else a small sample built here]")
    ap.add_argument("--tickets", type=int, default=300, help="sample size when building a workspace")
    ap.add_argument("--requests", type=int, default=200, help="retrieval requests per concurrency level")
    ap.add_argument("--gen-requests", type=int, default=8, help="generation requests per concurrency level")
    ap.add_argument("--concurrency", default="1,8,32", help="comma-separated client counts")
    ap.add_argument("--skip-generation", action="store_true", help="retrieval scenario only")
    ap.add_argument("--serve-arm", default="base+rag",
                    help="--arm for `casebase serve`, used by the generation scenario (retrieval requests set "
                         "arm=retrieval themselves); 'auto': the server's own choice")
    ap.add_argument("--timeout", type=float, default=600, help="per-request timeout (s) for generation")
    ap.add_argument("--warmup", type=int, default=20, help="retrieval requests before measuring")
    ap.add_argument("--index-model", help="re-index the served copy with this embedder first (e.g. fake:384)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "serve_load.json")
    args = ap.parse_args()
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]

    result = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "date": dt.date.today().isoformat(),
              "cpus": os.cpu_count(), "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
              "target": f"retrieval p99 < {TARGET_P99_MS:.0f} ms at {TARGET_CONCURRENCY} concurrent, 0 errors",
              "scenarios": {}}
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        tmp = Path(tmp)
        if args.workspace:
            source = args.workspace.resolve()
        elif (DEFAULT_WS / "index" / "manifest.json").exists():
            source = DEFAULT_WS
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

        port = free_port()
        log_path = tmp / "server.log"
        t = time.perf_counter()
        proc = start_server(ws, port, log_path, None if args.serve_arm == "auto" else args.serve_arm)
        url = f"http://127.0.0.1:{port}"
        try:
            result["server_start_s"] = round(time.perf_counter() - t, 1)
            health = httpx.get(url + "/healthz").json()
            result["server"] = {k: health.get(k) for k in ("version", "cases", "arm", "arm_reason")}
            print(f"server: {url} over {source} ({health['cases']} cases; default arm {health['arm']}: "
                  f"{health['arm_reason']}); started in {result['server_start_s']} s; {len(texts)} ticket texts; "
                  f"load average at start {result['load_avg_at_start']}", flush=True)

            warm = run_level(url, texts, args.warmup, 1, 60, "retrieval")  # embedder + caches warm
            rows = []
            for c in levels:
                rows.append(run_level(url, texts, args.requests, c, 60, "retrieval"))
                print(f"  retrieval c={c}: p50 {rows[-1]['p50_ms']} ms, p99 {rows[-1]['p99_ms']} ms, "
                      f"{rows[-1]['throughput_rps']} req/s, errors {rows[-1]['errors']}", flush=True)
            result["scenarios"]["retrieval"] = {"warmup": warm, "levels": rows}
            show(f"retrieval only ({args.requests} requests per level)", rows)
            at_target = next((r for r in rows if r["concurrency"] == TARGET_CONCURRENCY), None)
            if at_target:
                ok = at_target["p99_ms"] < TARGET_P99_MS and at_target["errors"] == 0
                result["target_met"] = ok
                print(f"target: p99 < {TARGET_P99_MS:.0f} ms at {TARGET_CONCURRENCY} concurrent with 0 errors -> "
                      f"p99 {at_target['p99_ms']} ms, errors {at_target['errors']}: {'MET' if ok else 'NOT MET'}")

            if not args.skip_generation:
                if health["arm"] == "retrieval":
                    print("generation: skipped, the server's arm is retrieval only (try --serve-arm base+rag)")
                    result["scenarios"]["generation"] = {"skipped": "server arm is retrieval"}
                else:
                    # texts retrieval does not abstain on, so each request really generates
                    gen_texts = []
                    with httpx.Client(base_url=url, timeout=60) as client:
                        for text in texts:
                            if not client.post("/api/suggest", json={"body": text, "arm": "retrieval"}).json()["abstained"]:
                                gen_texts.append(text)
                            if len(gen_texts) >= max(levels) * args.gen_requests + 1:
                                break
                    gen_texts = gen_texts or texts
                    t = time.perf_counter()
                    first = run_level(url, gen_texts, 1, 1, args.timeout, None)  # loads the model
                    first["wall_incl_model_load_s"] = round(time.perf_counter() - t, 1)
                    print(f"  generation: first request (model load) {first['max_ms'] / 1000:.1f} s, "
                          f"errors {first['errors']}", flush=True)
                    rows = []
                    for c in levels:
                        shift = gen_texts[1 + len(rows) * args.gen_requests:] + gen_texts[:1 + len(rows) * args.gen_requests]
                        rows.append(run_level(url, shift, args.gen_requests, c, args.timeout, None))
                        print(f"  generation c={c}: p50 {rows[-1]['p50_ms']} ms, p99 {rows[-1]['p99_ms']} ms, "
                              f"errors {rows[-1]['errors']}", flush=True)
                    result["scenarios"]["generation"] = {"first_request": first, "levels": rows,
                                                         "texts_not_abstaining": len(gen_texts)}
                    show(f"generation ({health['arm']}, {args.gen_requests} requests per level, "
                         f"timeout {args.timeout:.0f} s)", rows)
        finally:
            stop_server(proc)
            tail = log_path.read_text()[-2000:] if log_path.exists() else ""
            if tail.strip():
                result["server_log_tail"] = tail
    result["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nload average at start {result['load_avg_at_start']}, at end {result['load_avg_at_end']} "
          f"({os.cpu_count()} CPUs); wrote {args.out}")


if __name__ == "__main__":
    main()
