"""What retaining one case costs as the index grows: the append segment against the old full rewrite.

    .venv/bin/python bench/retain.py                                  # 10k and 100k cases, 50 retains each (~6 min)
    .venv/bin/python bench/retain.py --sizes 10000 --retains 20       # quicker

For each size, a workspace of that many synthetic cases (problems of 12-40 words drawn from a 20k-word
vocabulary with ERP-like codes) is indexed with the hashing fake embedder at 384 dimensions (MiniLM's size,
so the embeddings file is as big as with the real model; embedding one case costs microseconds, so what is
timed is the index's own work). Then:

  new   ``Suggester.retain`` (what POST /api/cases runs): cases-retained.jsonl + the segment, fsynced.
  sync  the cost, in another loaded index over the same workspace, of picking the retained case up
        (``Index.sync``, what every server process does within a second).
  old   the path before the segment (``Suggester.retain`` + ``add_to_index`` at git df7caf3: a temporary JSONL, every embedding,
        the metadata and BM25 of the whole index rewritten, then the whole index loaded again), kept here
        verbatim as ``old_retain``; --old-retains of them per size (it costs seconds at 100k).

Prints a table and writes bench/out/retain.json (with the command line): median and p95 ms per retain.
"""

from __future__ import annotations

import _venv  # noqa: F401  (re-runs under .venv/bin/python)
import argparse
import datetime as dt
import json
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from casebase import progress  # noqa: E402
from casebase.workspace import Workspace  # noqa: E402

MODEL = "fake:384"


def synthetic_cases(n: int, seed: int, prefix: str = "T") -> list[dict]:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(20_000)] + [f"ERR-{i:05d}" for i in range(2_000)] + [f"ME{i}N" for i in range(50)]
    zipf = 1 / np.arange(1, len(words) + 1) ** 0.9
    zipf /= zipf.sum()
    out = []
    for i in range(n):
        length = int(rng.integers(12, 40))
        problem = " ".join(words[j] for j in rng.choice(len(words), size=length, p=zipf))
        solution = " ".join(words[j] for j in rng.choice(len(words), size=10, p=zipf))
        out.append({"ticket_id": f"{prefix}{i:07d}", "opened_at": "", "problem": problem, "solution": solution,
                    "category": f"cat{i % 12}", "urgency": ("Low", "Medium", "High")[i % 3]})
    return out


def build(root: Path, n: int) -> Workspace:
    from casebase.retrieve import build_index

    ws = Workspace.at(root)
    with open(ws.root / "train.jsonl", "w") as f:
        for case in synthetic_cases(n, seed=n):
            f.write(json.dumps(case) + "\n")
    t = time.perf_counter()
    build_index(ws, model=MODEL, ann="never")
    print(f"  built {n:,} cases in {time.perf_counter() - t:.1f} s", flush=True)
    return ws


def old_retain(ws: Workspace, index, case: dict):
    """The retain path before the segment (engine.retain + build.add_to_index as they were): full rewrite + reload."""
    import pandas as pd

    from casebase.retrieve.bm25 import BM25Index
    from casebase.retrieve.build import _metadata, _write, case_texts, read_cases
    from casebase.retrieve.embed import encode_batched
    from casebase.retrieve.index import index_dir, load_index
    from casebase.workspace import file_sha256, write_manifest

    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write(json.dumps(case) + "\n")
    path = Path(f.name)
    try:
        new = read_cases(path)
        texts = case_texts(new, index.manifest["text"])
        new_emb = encode_batched(index.embedder, texts, "embedding")
        embeddings = np.concatenate([index.embeddings, new_emb])
        metadata = pd.concat([index.metadata, _metadata(new, texts)], ignore_index=True)
        bm25 = BM25Index.build(metadata["text"].tolist())
        manifest = dict(index.manifest)
        added = {"path": str(path), "sha256": file_sha256(path), "cases": len(new), "at": "now"}
        manifest.update(count=len(metadata), added=[*manifest.get("added", []), added],
                        bm25={**manifest["bm25"], "vocabulary": len(bm25.retriever.vocab_dict)},
                        build_id=secrets.token_hex(8))
        ws.begin("index")
        _write(ws, embeddings, metadata, bm25, None, manifest)
        write_manifest(ws, "index", config={}, inputs={"add": path}, counts={"cases": len(metadata)}, timings={},
                       extra={"index_build": manifest["build_id"]}, files=[index_dir(ws) / "metadata.parquet"])
        return load_index(ws, embedder=index.embedder)
    finally:
        path.unlink(missing_ok=True)


def stats(ms: list[float]) -> dict:
    return {"n": len(ms), "median_ms": round(float(np.median(ms)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "max_ms": round(float(np.max(ms)), 2)}


def run_size(tmp: Path, n: int, retains: int, old_retains: int) -> dict:
    from casebase.retrieve import load_index
    from casebase.serve.engine import Suggester

    print(f"{n:,} cases", flush=True)
    ws = build(tmp / f"ws-{n}", n)
    index_bytes = sum(p.stat().st_size for p in (ws.root / "index").rglob("*") if p.is_file())
    fresh = shutil.copytree(ws.root, tmp / f"ws-{n}-old")  # the same index for the old path
    engine = Suggester(ws, arm="retrieval")
    reader = load_index(ws)
    new_ms, sync_ms = [], []
    for i, case in enumerate(synthetic_cases(retains, seed=7, prefix="R")):
        t = time.perf_counter()
        engine.retain(case)
        new_ms.append(1000 * (time.perf_counter() - t))
        t = time.perf_counter()
        reader.sync(force=True)
        sync_ms.append(1000 * (time.perf_counter() - t))
    assert len(reader) == n + retains and engine.search(case["problem"], k=1).results[0]["case_id"] == case["ticket_id"]
    out = {"cases": n, "index_mib": round(index_bytes / 2**20, 1), "new": stats(new_ms), "sync_other_process": stats(sync_ms)}
    print(f"  new  {out['new']}\n  sync {out['sync_other_process']}", flush=True)
    if old_retains:
        old_ws = Workspace(fresh)
        index = load_index(old_ws)
        old_ms = []
        for case in synthetic_cases(old_retains, seed=7, prefix="R"):
            t = time.perf_counter()
            index = old_retain(old_ws, index, case)
            old_ms.append(1000 * (time.perf_counter() - t))
        out["old"] = stats(old_ms)
        print(f"  old  {out['old']}", flush=True)
    shutil.rmtree(ws.root, ignore_errors=True)
    shutil.rmtree(fresh, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--retains", type=int, default=50)
    parser.add_argument("--old-retains", default="50,5", help="old-path retains per size (0: skip)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "retain.json")
    args = parser.parse_args()
    progress.set_enabled(False)
    sizes = [int(s) for s in args.sizes.split(",")]
    olds = [int(s) for s in args.old_retains.split(",")]
    olds += [olds[-1]] * (len(sizes) - len(olds))
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-retain-") as tmp:
        for n, old in zip(sizes, olds):
            results.append(run_size(Path(tmp), n, args.retains, old))
    print("\n| cases | index MiB | new median ms | new p95 ms | sync in another index, median ms | old median ms | old p95 ms | old n |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        old = r.get("old", {})
        print(f"| {r['cases']:,} | {r['index_mib']} | {r['new']['median_ms']} | {r['new']['p95_ms']} | "
              f"{r['sync_other_process']['median_ms']} | {old.get('median_ms', '-')} | {old.get('p95_ms', '-')} | "
              f"{old.get('n', 0)} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": " ".join(sys.argv), "at": dt.datetime.now(dt.timezone.utc).isoformat(
        timespec="seconds"), "model": MODEL, "retains": args.retains, "results": results}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
