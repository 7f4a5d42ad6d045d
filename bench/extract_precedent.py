"""Precedent evidence for the extraction picker (issue 18, item 2), measured by 5-fold CV on forum-support train.

    .venv/bin/python bench/extract_precedent.py                      # 3 fold seeds, k = 10, all variants
    .venv/bin/python bench/extract_precedent.py --seeds 0 --cache /tmp/prec-cache   # embeddings kept between runs

For each candidate reply of a thread: how close it is to the accepted posts of the k past threads whose problem is
closest to this one's (MiniLM cosine through ``casebase.retrieve``'s case embedder, and BM25 through bm25s with the
project's tokenizer), similarity-weighted; its rank among the thread's candidates; the share of those neighbours
whose accepted post the asker wrote. For the resolved call: how close the thread is to past solved threads and the
share of solved threads among its nearest past threads (solved and unsolved).

The precedent pool of every thread is the solved (and, for the thread features, unsolved) threads of the *training
folds* only, the thread itself left out: a held-out thread sees no label of its own fold and no test thread is
used anywhere. Each variant runs the whole shipped procedure (``casebase.extract.tune.train``: pick model with L2
chosen by inner CV, resolved model, Platt calibration, operating points) on four folds and extracts the fifth with
``extract_one`` at ``--min-precision``, in the same folds as ``bench/extract.py`` (``tune.stratified_folds``).
Prints picker, end to end and precision (solved) with 95% bootstrap intervals per variant (seed 0), the mean over
seeds, and each variant minus the base as a paired bootstrap over threads (each thread's outcome averaged over the
seeds). Writes bench/out/extract_precedent.json.
"""

from __future__ import annotations

import _venv  # noqa: F401  (re-runs under .venv/bin/python)
import argparse
import hashlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from casebase import progress  # noqa: E402
from casebase.extract import tune  # noqa: E402
from casebase.extract.heuristic import extract_one  # noqa: E402
from casebase.extract.measure import case_base_metrics, outcome  # noqa: E402
from casebase.extract.scorer import Scorer  # noqa: E402
from casebase.ingest import run as ingest  # noqa: E402
from casebase.retrieve.bm25 import BM25Index  # noqa: E402
from casebase.retrieve.embed import encode_batched, get_case_embedder  # noqa: E402
from casebase.text import problem_text  # noqa: E402
from casebase.workspace import Workspace  # noqa: E402

FORUM = REPO.parent / "shared" / "datasets" / "forum-support"
REPLY = ("prec_dense", "prec_dense_gap", "prec_dense_top", "prec_dense_rank",
         "prec_bm25", "prec_bm25_top", "prec_asker")
THREAD = ("near_solved", "knn_solved_share")
VARIANTS = {  # name -> (reply columns, thread columns)
    "base": ((), ()),
    "+dense": (REPLY[:4], ()),
    "+bm25": (REPLY[4:6], ()),
    "+dense+bm25": (REPLY[:6], ()),
    "+dense+bm25+asker": (REPLY, ()),
    "+all, + thread precedent (resolved call)": (REPLY, THREAD),
}
SHOWN = ("picker", "end_to_end", "precision_solved", "unsolved_called_resolved")


@dataclass
class Texts:
    """Embeddings of each thread's problem and of each reply, and the texts BM25 reads."""

    problem: dict[str, np.ndarray]
    reply: dict[str, np.ndarray]  # ticket -> (replies x dim)
    problem_text: dict[str, str]
    reply_text: dict[str, list[str]]


def embed_texts(data: tune.TrainingData, ids: list[str], cache: Path | None) -> Texts:
    def first_customer(t: str) -> str:  # the case's problem is built from it, as extract_one does
        thread = data.threads[t]
        return next((str(m["body"]) for m in thread if m["role"] == "customer"), str(thread[0]["body"]))

    ptext = {t: problem_text(data.subjects.get(t, ""), first_customer(t)) for t in ids}
    rtext = {t: [str(m["body"]) for m in data.threads[t][1:]] for t in ids}
    flat = [ptext[t] for t in ids] + [b for t in ids for b in rtext[t]]
    key = hashlib.sha256(json.dumps(flat).encode()).hexdigest()[:16]
    path = cache / f"minilm-{key}.npy" if cache else None
    if path and path.exists():
        vectors = np.load(path)
    else:
        vectors = encode_batched(get_case_embedder(), flat, "embedding")
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, vectors)
    problem = {t: vectors[i] for i, t in enumerate(ids)}
    reply, at = {}, len(ids)
    for t in ids:
        reply[t] = vectors[at: at + len(rtext[t])]
        at += len(rtext[t])
    return Texts(problem, reply, ptext, rtext)


def precedent(data: tune.TrainingData, tx: Texts, pool_s: list[str], pool_u: list[str], targets: list[str],
              k: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Reply features (columns REPLY) and thread features (THREAD) of each target thread from this pool."""
    gold_pos = {t: data.y(t) for t in pool_s}
    answers = np.stack([tx.reply[t][gold_pos[t]] for t in pool_s])
    asker = np.array([data.threads[t][gold_pos[t] + 1]["role"] == "customer" for t in pool_s], float)
    qp = np.stack([tx.problem[t] for t in pool_s])
    qu = np.stack([tx.problem[t] for t in pool_u]) if pool_u else np.zeros((0, qp.shape[1]), np.float32)
    where_s = {t: j for j, t in enumerate(pool_s)}
    where_u = {t: j for j, t in enumerate(pool_u)}
    bm_answers = BM25Index.build([tx.reply_text[t][gold_pos[t]] for t in pool_s])
    bm_problems = BM25Index.build([tx.problem_text[t] for t in pool_s])
    reply_feats, thread_feats = {}, {}
    for t in targets:
        q = tx.problem[t]
        s = qp @ q
        if t in where_s:
            s[where_s[t]] = -np.inf  # never its own accepted post
        nb = np.argsort(-s)[:k]
        w = np.clip(s[nb], 0, None) + 1e-6
        r = tx.reply[t]
        dense = (r @ answers[nb].T) @ w / w.sum() if len(r) else np.zeros(0)
        bs = bm_problems.scores(tx.problem_text[t]).astype(float)
        if t in where_s:
            bs[where_s[t]] = -np.inf
        bnb = np.argsort(-bs)[:k]
        bw = np.clip(bs[bnb], 0, None) + 1e-6
        bm = np.array([bm_answers.scores(text)[bnb] @ bw / bw.sum() for text in tx.reply_text[t]])
        bm_norm = bm / bm.max() if len(bm) and bm.max() > 0 else np.zeros(len(bm))
        rank = np.argsort(np.argsort(-dense)) if len(dense) else np.zeros(0)
        is_customer = np.array([m["role"] == "customer" for m in data.threads[t][1:]], float)
        reply_feats[t] = np.stack([
            dense, dense - (dense.max() if len(dense) else 0), rank == 0, 1 / (1 + rank),
            bm_norm, (bm_norm == 1) & (bm > 0), is_customer * (asker[nb] @ w / w.sum()),
        ], 1).astype(np.float32) if len(r) else np.zeros((0, len(REPLY)), np.float32)
        su = qu @ q
        if t in where_u:
            su[where_u[t]] = -np.inf
        s_ok = s[np.isfinite(s)]
        both = np.concatenate([s_ok, su[np.isfinite(su)]])
        solved_flag = np.concatenate([np.ones(len(s_ok)), np.zeros(int(np.isfinite(su).sum()))])
        top = np.argsort(-both)[:k]
        thread_feats[t] = np.array([np.sort(s_ok)[::-1][:k].mean(), solved_flag[top].mean()], np.float32)
    return reply_feats, thread_feats


class FoldData(tune.TrainingData):
    """The training data of one fold with the chosen precedent columns beside the base features."""

    def __init__(self, base: tune.TrainingData, reply_feats, thread_feats, cols, tcols):
        super().__init__(base.threads, base.subjects, base.activity, base.gold, base.unsolved)
        self.base, self.reply_feats, self.thread_feats = base, reply_feats, thread_feats
        self.cols = [REPLY.index(c) for c in cols]
        self.tcols = [THREAD.index(c) for c in tcols]

    def x(self, tid: str) -> np.ndarray:
        if tid not in self.features:
            self.features[tid] = np.hstack([self.base.x(tid), self.reply_feats[tid][:, self.cols]])
        return self.features[tid]


_base_summary = tune.summary


def summary(data, w, tid):
    """tune.summary with the fold's thread precedent columns appended (none for the base)."""
    x = _base_summary(data, w, tid)
    return np.concatenate([x, data.thread_feats[tid][data.tcols]]) if isinstance(data, FoldData) else x


tune.summary = summary  # fit_models and out_of_fold read it from the module


@dataclass(frozen=True)
class FoldScorer(Scorer):
    """The scorer of one fold, reading the fold's feature rows (same weights, same calibration)."""

    data: FoldData | None = None

    def score(self, thread, subject="", activity=None):
        return self.data.x(thread[0]["ticket_id"]) @ self.weights

    def resolved_probability(self, thread, scores):
        tid = thread[0]["ticket_id"]
        z = float(summary(self.data, self.weights, tid) @ self.resolved_weights)
        z = self.calibration["a"] * z + self.calibration["b"]
        return 1 / (1 + np.exp(-z))


def cross_validate(base, tx, tickets, variants, k, seed, min_precision):
    """tune.cross_validate for each variant in the same folds; {variant: [Outcome]} and the argmax of
    the dense precedent alone."""
    folds = tune.stratified_folds(sorted(base.gold), base.unsolved, seed=seed)
    out = {v: [] for v in variants}
    alone = []
    for f, (held_s, held_u) in enumerate(folds):
        rest_s = [t for g, (s, _) in enumerate(folds) if g != f for t in s]
        rest_u = [t for g, (_, u) in enumerate(folds) if g != f for t in u]
        rf, tf = precedent(base, tx, rest_s, rest_u, rest_s + rest_u + held_s + held_u, k)
        alone += [(int(np.argmax(rf[t][:, 0])) == base.y(t), int(in_top2(rf[t][:, 0], base.y(t)))) for t in held_s]
        for v in variants:
            cols, tcols = VARIANTS[v]
            data = FoldData(base, rf, tf, cols, tcols)
            d = tune.train(data, rest_s, rest_u, seed=seed)
            scorer = FoldScorer(np.asarray(d["weights"], np.float32), np.asarray(d["resolved_weights"], np.float32),
                                d, data)
            threshold = scorer.operating_point(min_precision)["threshold"]
            for t in held_s + held_u:
                case = extract_one(tickets.get(t, {}), base.threads[t], base.activity, scorer, threshold)
                out[v].append(outcome(t, base.gold.get(t), case))
    return out, alone


def in_top2(scores, y) -> bool:
    return y in np.argsort(-scores)[:2]


def paired(per_seed: list[dict[str, list]], variant: str, resamples: int = 2000) -> dict:
    """Variant minus base for picker, end to end and precision (solved): each thread's indicators averaged over
    the seeds, then a bootstrap over threads (the same draws for both)."""
    ids = [o.ticket_id for o in per_seed[0]["base"]]

    def table(v):
        rows = {}
        for run in per_seed:
            for o in run[v]:
                r = rows.setdefault(o.ticket_id, np.zeros(4))
                r += [o.gold is not None and o.candidate == o.gold, o.correct,
                      o.resolved and o.gold is not None, o.gold is not None]
        return np.stack([rows[t] / len(per_seed) for t in ids])

    a, b = table("base"), table(variant)
    rng = np.random.default_rng(0)
    w = rng.multinomial(len(ids), np.full(len(ids), 1 / len(ids)), size=resamples).astype(float)
    w = np.vstack([np.ones(len(ids)), w])

    def ratios(m):
        with np.errstate(invalid="ignore", divide="ignore"):
            return {"picker": w @ m[:, 0] / (w @ m[:, 3]), "end_to_end": w @ m[:, 1] / (w @ m[:, 3]),
                    "precision_solved": w @ m[:, 1] / (w @ m[:, 2])}

    ra, rb = ratios(a), ratios(b)
    res = {}
    for key in ra:
        d = rb[key] - ra[key]
        boot = d[1:][np.isfinite(d[1:])]
        res[key] = {"value": round(float(d[0]), 4),
                    "ci95": [round(float(np.percentile(boot, 2.5)), 4), round(float(np.percentile(boot, 97.5)), 4)]}
    return res


def auc_correct(outcomes) -> float:
    """AUC of resolved_score for "the case would be right" (solved, pick = accepted post) over held-out threads: the
    resolved call judged at every threshold, not only at the operating point."""
    y = np.array([o.gold is not None and o.candidate == o.gold for o in outcomes])
    r = pd.Series([o.score or 0.0 for o in outcomes]).rank().to_numpy()  # Mann-Whitney U, ties at mid-rank
    return round(float((r[y].sum() - y.sum() * (y.sum() + 1) / 2) / (y.sum() * (~y).sum())), 4)


def fmt(m: dict) -> str:
    v, (lo, hi) = m["value"], m["ci95"]
    return "-" if v is None else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="fold seeds")
    ap.add_argument("--k", type=int, default=10, help="neighbour threads per thread")
    ap.add_argument("--min-precision", type=float, default=0.85)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--cache", type=Path, default=None, help="folder for the MiniLM vectors (outside the repo)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "extract_precedent.json")
    args = ap.parse_args()
    if not (FORUM / "solutions.csv").exists():
        sys.exit(f"forum-support not found at {FORUM}")
    variants = ["base"] + [v for v in args.variants if v != "base"]
    progress.set_enabled(False)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.at(tmp)
        ingest(ws, FORUM / "tickets.csv", FORUM / "messages.csv")
        base = tune.load_training(ws, FORUM / "solutions.csv")
        tickets = {t["ticket_id"]: t for t in pd.read_parquet(ws.tickets).to_dict("records")}
    ids = sorted(base.gold) + list(base.unsolved)  # train threads only: no test thread is embedded or pooled
    tx = embed_texts(base, ids, args.cache)
    t_embed = time.perf_counter() - t0
    per_seed, alone = [], []
    for seed in args.seeds:
        out, al = cross_validate(base, tx, tickets, variants, args.k, seed, args.min_precision)
        per_seed.append(out)
        alone += al
    report = {"command": " ".join(["bench/extract_precedent.py", *sys.argv[1:]]), "k": args.k, "seeds": args.seeds,
              "min_precision": args.min_precision, "embed_seconds": round(t_embed, 1),
              "seconds": round(time.perf_counter() - t0, 1),
              "precedent_alone": {"argmax": round(float(np.mean([a for a, _ in alone])), 4),
                                  "top2": round(float(np.mean([b for _, b in alone])), 4)},
              "variants": {}}
    for v in variants:
        m0 = case_base_metrics(per_seed[0][v])
        means = {key: round(float(np.mean([case_base_metrics(run[v], resamples=1)[key]["value"] or 0
                                           for run in per_seed])), 4) for key in SHOWN}
        aucs = [auc_correct(run[v]) for run in per_seed]
        means["auc_correct"] = round(float(np.mean(aucs)), 4)
        report["variants"][v] = {"seed0": {k: m0[k] for k in SHOWN}, "mean_over_seeds": means,
                                 "auc_correct_per_seed": aucs,
                                 "minus_base": paired(per_seed, v) if v != "base" else None}
    print(f"train, 5-fold CV, seeds {args.seeds}, k={args.k}, --min-precision {args.min_precision}; "
          f"{len(base.gold)} solved + {len(base.unsolved)} unsolved threads; {report['seconds']} s")
    print(f"dense precedent alone (held-out solved threads, all seeds): argmax {report['precedent_alone']['argmax']}, "
          f"top-2 {report['precedent_alone']['top2']}")
    print("\n| variant | picker (seed 0) | end to end | precision (solved) | unsolved called resolved | "
          "mean over seeds: picker / e2e / prec (solved) | minus base (paired, seeds averaged): picker | e2e | "
          "prec (solved) | AUC correct case (mean) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for v, r in report["variants"].items():
        mb = r["minus_base"]
        diff = " | ".join(f"{mb[k]['value']:+.3f} [{mb[k]['ci95'][0]:+.3f}, {mb[k]['ci95'][1]:+.3f}]"
                          for k in ("picker", "end_to_end", "precision_solved")) if mb else " | | "
        mean = " / ".join(f"{r['mean_over_seeds'][k]:.3f}" for k in ("picker", "end_to_end", "precision_solved"))
        print(f"| {v} | " + " | ".join(fmt(r["seed0"][k]) for k in SHOWN) + f" | {mean} | {diff} | "
              f"{r['mean_over_seeds']['auc_correct']:.3f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=float))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
