"""ANN parts of bench/retrieval.py (ann, ann_real, ann_1m) and the timing helpers they share with it.

Imported by bench/retrieval.py, which documents the parts and their command lines.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from casebase.retrieve import get_embedder
from casebase.retrieve.ann import HNSW, graph_pays
from casebase.retrieve.embed import encode_batched
from casebase.workspace import Workspace


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values), q))


def unit(rng, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def numpy_top10(E: np.ndarray, q: np.ndarray) -> np.ndarray:
    s = E @ q
    return np.argpartition(-s, 10)[:10]


def time_each(fn, items) -> list[float]:
    out = []
    for it in items:
        t = time.perf_counter(); fn(it); out.append((time.perf_counter() - t) * 1000)
    return out


# ---------------------------------------------------------------- part 3c: ANN
def ann_sweep(E: np.ndarray, sets: dict[str, np.ndarray], ef_values: tuple[int, ...]) -> dict:
    """Build HNSW over E with the product's settings, then recall@10 and latency per query set and expansion_search."""
    import usearch

    from casebase.retrieve.ann import HNSW_OPTIONS

    n = len(E)
    r0 = rss_mb(); t = time.perf_counter()
    ann = HNSW.build(E)
    build_s = time.perf_counter() - t
    r1 = rss_mb()
    mem = getattr(ann.index, "memory_usage", None)
    # what `casebase index --ann auto` decides for these vectors (calibrated on stored rows as queries)
    t = time.perf_counter()
    cal = ann.calibrate(E, 0.95)
    cal["decision"] = "hnsw" if graph_pays(cal) else "exact"
    cal["calibrate_s"] = round(time.perf_counter() - t, 1)
    rows = []
    product_ef = HNSW_OPTIONS["expansion_search"]
    sweep = sorted({product_ef, cal["expansion_search"], *ef_values})
    for label, Q in sets.items():
        truth = [set(numpy_top10(E, q).tolist()) for q in Q]
        base = time_each(lambda i: numpy_top10(E, Q[i]), range(len(Q)))
        for ef in sweep:
            ann.index.expansion_search = ef  # a query-time setting: one build serves the whole sweep
            for i in range(min(5, len(Q))):
                numpy_top10(E, Q[i]); ann.search(Q[i], 10)
            lat = time_each(lambda i: ann.search(Q[i], 10), range(len(Q)))
            rec10 = np.mean([len(truth[i] & set(ann.search(Q[i], 10)[0][0].tolist())) / 10 for i in range(len(Q))])
            rec100 = np.mean([len(truth[i] & set(ann.search(Q[i], 100)[0][0][:10].tolist())) / 10
                              for i in range(len(Q))])
            rows.append({"cases": n, "queries": label, "expansion_search": ef, "calibrated": ef == cal["expansion_search"],
                         "n": len(Q), "recall@10": round(float(rec10), 3),
                         "recall@10_depth100": round(float(rec100), 3), "ann_p50_ms": round(pct(lat, 50), 3),
                         "ann_p99_ms": round(pct(lat, 99), 3), "numpy_p50_ms": round(pct(base, 50), 3),
                         "numpy_p99_ms": round(pct(base, 99), 3),
                         "ann_p50_speedup": round(pct(base, 50) / pct(lat, 50), 1)})
    return {"cases": n, "usearch": usearch.__version__, "options": HNSW_OPTIONS, "build_s": round(build_s, 1),
            "calibration": cal,
            "build_cases_per_s": round(n / build_s), "matrix_mb": round(E.nbytes / 2**20, 1),
            "hnsw_memory_mb": round(mem / 2**20, 1) if isinstance(mem, (int, float)) else None,
            "build_rss_delta_mb": round(r1 - r0, 1), "rows": rows,
            "note": "HNSW.build with the product's HNSW_OPTIONS (casebase/retrieve/ann.py), calibrated as "
                    "`casebase index` does (HNSW.calibrate, target recall@10 0.95 on 200 stored rows as queries); "
                    "expansion_search swept at query time on the same build, 'calibrated' marks the calibrated one; recall@10 = HNSW.search(q, 10) vs exact; recall@10_depth100 = "
                    "top 10 of HNSW.search(q, 100), what Index.search asks for (depth 100)"}


def part_ann(n: int, n_queries: int, dim: int, seed: int, ef_values: tuple[int, ...] = ()) -> dict:
    if not HNSW.available():
        return {"skipped": "usearch is not installed (pip install usearch)"}
    rng = np.random.default_rng(seed + 1)
    E = unit(rng, n, dim)
    sets = {"random queries": unit(rng, n_queries, dim)}
    # queries near a stored case (a re-asked question): case + noise of about the same norm
    near = E[rng.integers(0, n, n_queries)] + 0.8 * unit(rng, n_queries, dim)
    sets["near-case queries"] = near / np.linalg.norm(near, axis=1, keepdims=True)
    return ann_sweep(E, sets, ef_values)


def forum_sentences(ws: Workspace) -> tuple[list[str], list[str]]:
    """Every sentence of 4+ words in the ingested (redacted) forum messages, once, with its ticket id."""
    msgs = pd.read_parquet(ws.messages, columns=["ticket_id", "body"])
    first: dict[str, str] = {}
    for tid, body in zip(msgs["ticket_id"].astype(str), msgs["body"].fillna("").astype(str)):
        for s in re.split(r"(?<=[.!?])\s+|\n+", body):
            s = s.strip()
            if len(s.split()) >= 4:
                first.setdefault(s, tid)
    sentences = sorted(first)
    return sentences, [first[s] for s in sentences]


def encode_cached(emb, texts: list[str], label: str, cache: Path | None) -> np.ndarray:
    """encode_batched, kept in ``cache`` (a directory outside the repository) under a hash of model and texts."""
    path = None
    if cache is not None:
        digest = hashlib.sha256("\x00".join([emb.name, *texts]).encode()).hexdigest()[:16]
        path = cache / f"emb-{digest}.npy"
        if path.exists():
            return np.load(path)
    E = encode_batched(emb, texts, label)
    if path is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.save(path, E)
    return E


def part_ann_real(ws: Workspace, embedder_name: str | None, n_queries: int, seed: int,
                  ef_values: tuple[int, ...] = (), cache: Path | None = None) -> dict:
    """The same HNSW measurement on real embeddings: the sentences of every forum message (ingested, redacted),
    each sentence of 4+ words once; n_queries held-out sentences are the queries."""
    if not HNSW.available():
        return {"skipped": "usearch is not installed (pip install usearch)"}
    sentences, _ = forum_sentences(ws)
    order = np.random.default_rng(seed).permutation(len(sentences))  # the same split and order as ann_1m
    queries, stored = [sentences[i] for i in order[:n_queries]], [sentences[i] for i in np.sort(order[n_queries:])]
    emb = get_embedder(embedder_name)
    t = time.perf_counter()
    E = encode_cached(emb, stored, "embedding message sentences", cache)
    Q = encode_cached(emb, queries, "embedding query sentences", cache)
    embed_s = time.perf_counter() - t
    result = ann_sweep(E, {"held-out sentences": Q}, ef_values)
    return {**result, "embedder": emb.name, "embed_s": round(embed_s, 1)}


def compose(E: np.ndarray, groups: list[np.ndarray], n: int, rng, seen: set | None = None) -> tuple[np.ndarray, set]:
    """n distinct passage vectors, each the normalised sum of 2 or 3 sentence vectors of one ticket
    (mean pooling, as MiniLM does, makes a passage's embedding close to that; checked in part_ann_1m)."""
    seen = set() if seen is None else seen
    weights = np.array([len(g) for g in groups], dtype=np.float64)
    weights /= weights.sum()
    out, combos = np.empty((n, E.shape[1]), dtype=np.float32), []
    while len(combos) < n:
        for g in rng.choice(len(groups), size=2 * (n - len(combos)), p=weights):
            rows = groups[g]
            m = min(len(rows), int(rng.integers(2, 4)))
            combo = tuple(sorted(rng.choice(rows, size=m, replace=False).tolist()))
            if len(combo) >= 2 and combo not in seen:
                seen.add(combo)
                combos.append(combo)
                if len(combos) == n:
                    break
    for i, combo in enumerate(combos):
        v = E[list(combo)].sum(0)
        out[i] = v / np.linalg.norm(v)
    return out, seen


def part_ann_1m(ws: Workspace, embedder_name: str | None, size: int, n_queries: int, seed: int,
                ef_values: tuple[int, ...] = (), cache: Path | None = None) -> dict:
    """HNSW at --ann-size passages with the structure of real embeddings, where a million real texts are not
    at hand: each stored vector is a passage of 2-3 sentences of one forum ticket (the normalised sum of their
    MiniLM vectors). Queries: held-out real sentences, and new passages not in the index. The composition
    is checked against MiniLM's real encoding of the concatenated sentences."""
    if not HNSW.available():
        return {"skipped": "usearch is not installed (pip install usearch)"}
    sentences, tickets = forum_sentences(ws)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sentences))
    held, stored = order[:n_queries], np.sort(order[n_queries:])
    emb = get_embedder(embedder_name)
    t = time.perf_counter()
    S = encode_cached(emb, [sentences[i] for i in stored], "embedding message sentences", cache)
    Qs = encode_cached(emb, [sentences[i] for i in held], "embedding query sentences", cache)
    embed_s = time.perf_counter() - t
    by_ticket: dict[str, list[int]] = {}
    for row, i in enumerate(stored):
        by_ticket.setdefault(tickets[i], []).append(row)
    groups = [np.asarray(v) for v in by_ticket.values() if len(v) >= 2]
    t = time.perf_counter()
    E, seen = compose(S, groups, size, rng)
    Qp, _ = compose(S, groups, n_queries, rng, seen)  # new passages: not in the index
    compose_s = time.perf_counter() - t
    # how close is a composed vector to MiniLM's encoding of the same sentences joined into one text?
    checks = [groups[g] for g in rng.choice(len(groups), size=min(200, len(groups)), replace=False)]
    pairs = [tuple(rng.choice(g, size=2, replace=False).tolist()) for g in checks]
    real = encode_batched(emb, [sentences[stored[a]] + " " + sentences[stored[b]] for a, b in pairs], "checking")
    comp = np.stack([(S[a] + S[b]) / np.linalg.norm(S[a] + S[b]) for a, b in pairs])
    cos = np.sum(real * comp, axis=1)
    best_part = np.maximum(np.sum(real * S[[a for a, _ in pairs]], 1), np.sum(real * S[[b for _, b in pairs]], 1))
    del S
    result = ann_sweep(E, {"held-out sentences": Qs, "new passages": Qp}, ef_values)
    return {**result, "embedder": emb.name, "embed_s": round(embed_s, 1), "compose_s": round(compose_s, 1),
            "sentences": len(stored), "tickets": len(groups),
            "composition_check": {"pairs": len(pairs), "cosine_mean": round(float(cos.mean()), 3),
                                  "cosine_p10": round(float(np.percentile(cos, 10)), 3),
                                  "best_single_sentence_cosine_mean": round(float(best_part.mean()), 3)}}
