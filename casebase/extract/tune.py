"""Learn the solution scorer from threads whose accepted solution is known: the pick weights, the resolved model,
its calibration and the operating points that ``casebase extract --min-precision`` chooses from.

    python -m casebase.extract.tune --workspace /tmp/ws-forum \
        --labels ../shared/datasets/forum-support/solutions.csv --out casebase/extract/scorer.json

The workspace is an ingested forum-support export (``casebase ingest``). Only threads of the ``train`` split are
used (the labels file has ticket_id, solution_message_id, split), with the unlabelled threads opened before the
first test thread of their source (``tickets.source``; all threads share one cutoff without it) as the unresolved
examples. Steps, each deterministic (seeded folds, L-BFGS on CPU), so the same inputs give the same scorer.json:

1. the pick model, a softmax over each thread's replies, its L2 strength chosen by 5-fold cross-validation;
2. the resolved model, a logistic regression over thread-level signals (``scorer.THREAD_FEATURES``);
3. validation by 5-fold cross-validation over the training threads (solved and unsolved): steps 1-2 refitted on
   four folds score the fifth; the calibration (Platt scaling of the resolved model's logit) is fitted on these
   out-of-fold scores, and the precision/recall curve of the case base on them is shipped as the operating points.

scorer.json records the hashes of the labels, the messages and the code it was learned from (``manifest``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from casebase.extract.features import FEATURES, thread_features
from casebase.extract.heuristic import extract_one
from casebase.extract.measure import Outcome, expected_calibration_error, outcome, pr_curve, reliability
from casebase.extract.run import load_threads
from casebase.extract.scorer import THREAD_FEATURES, Scorer, code_version, thread_summary
from casebase.workspace import Workspace

L2_GRID = (1e-3, 3e-3, 1e-2, 3e-2)
FOLDS = 5


@dataclass
class TrainingData:
    """The threads of an ingested export, with the accepted post of each solved training thread."""

    threads: dict[str, list[dict]]
    subjects: dict[str, str]
    activity: dict[str, int]
    gold: dict[str, str]  # solved training thread -> its accepted post (a reply of the thread)
    unsolved: list[str]  # unsolved threads opened before the test period: the unresolved examples
    features: dict[str, np.ndarray] = field(default_factory=dict)  # computed once per thread

    def x(self, tid: str) -> np.ndarray:
        if tid not in self.features:
            th = self.threads[tid]
            self.features[tid] = thread_features(th, self.subjects.get(tid, ""), self.activity) if len(th) > 1 \
                else np.zeros((0, len(FEATURES)), np.float32)
        return self.features[tid]

    def y(self, tid: str) -> int:
        return [m["message_id"] for m in self.threads[tid][1:]].index(self.gold[tid])


def load_training(ws: Workspace, labels: Path) -> TrainingData:
    tickets, threads, activity = load_threads(ws)
    lab = pd.read_csv(labels)
    train = lab[lab["split"] == "train"]
    gold = {t: s for t, s in zip(train["ticket_id"], train["solution_message_id"])
            if t in threads and s in [m["message_id"] for m in threads[t][1:]]}
    return TrainingData(threads, dict(zip(tickets["ticket_id"], tickets["subject"].fillna(""))), activity, gold,
                        train_window_unsolved(tickets, lab, threads))


def train_window_unsolved(tickets: pd.DataFrame, lab: pd.DataFrame, threads: dict) -> list[str]:
    """Unlabelled threads opened before the first test thread of their source (never a thread of the test period)."""
    t = tickets[tickets["ticket_id"].isin(threads)].copy()
    group = t["source"].fillna("") if "source" in t else pd.Series("", index=t.index)
    test_ids = set(lab.loc[lab["split"] == "test", "ticket_id"])
    first_test = t[t["ticket_id"].isin(test_ids)].groupby(group)["opened_at"].min()
    cutoff = group.map(first_test).fillna(t.loc[t["ticket_id"].isin(test_ids), "opened_at"].min())
    keep = ~t["ticket_id"].isin(lab["ticket_id"]) & (t["opened_at"] < cutoff)
    return sorted(t.loc[keep, "ticket_id"])


def test_window_unsolved(tickets: pd.DataFrame, lab: pd.DataFrame, threads: dict) -> list[str]:
    """Unlabelled threads opened from the first test thread of their source on: the unsolved threads of the test
    period (measured beside the solved test threads, never trained on)."""
    before = set(train_window_unsolved(tickets, lab, threads))
    return sorted(t for t in tickets["ticket_id"] if t in threads and t not in before and t not in set(lab["ticket_id"]))


def fit_softmax(xs: list[np.ndarray], ys: list[int], l2: float) -> np.ndarray:
    """Weights of a softmax over each thread's replies (all threads in one matrix; a segment log-sum-exp)."""
    x = torch.from_numpy(np.concatenate(xs))
    seg = torch.from_numpy(np.repeat(np.arange(len(xs)), [len(v) for v in xs]))
    starts = np.cumsum([0] + [len(v) for v in xs[:-1]])
    target = torch.from_numpy(starts + np.asarray(ys))
    w = torch.zeros(x.shape[1], requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        s = x @ w
        top = torch.zeros(len(xs)).scatter_reduce(0, seg, s, "amax", include_self=False).detach()
        lse = torch.log(torch.zeros(len(xs)).index_add(0, seg, torch.exp(s - top[seg]))) + top
        loss = (lse - s[target]).mean() + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy()


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    """Logistic regression weights (column 0 is the bias, not regularised)."""
    w = torch.zeros(x.shape[1], requires_grad=True)
    xt, yt = torch.from_numpy(np.asarray(x, np.float32)), torch.from_numpy(np.asarray(y, np.float32))
    opt = torch.optim.LBFGS([w], max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(xt @ w, yt) + l2 * (w[1:] ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy()


def accuracy(w: np.ndarray, xs, ys) -> float:
    return float(np.mean([int(np.argmax(x @ w)) == y for x, y in zip(xs, ys)])) if xs else float("nan")


def choose_l2(xs, ys, grid=L2_GRID, seed: int = 0) -> tuple[float, dict]:
    """The L2 strength of the best mean pick accuracy over 5 folds, and the accuracy of each."""
    folds = np.array_split(np.random.default_rng(seed).permutation(len(xs)), FOLDS)
    cv = {}
    for l2 in grid:
        accs = []
        for k in range(FOLDS):
            tr = [i for f in range(FOLDS) if f != k for i in folds[f]]
            w = fit_softmax([xs[i] for i in tr], [ys[i] for i in tr], l2)
            accs.append(accuracy(w, [xs[i] for i in folds[k]], [ys[i] for i in folds[k]]))
        cv[l2] = float(np.mean(accs))
    return max(cv, key=cv.get), cv


def fit_models(data: TrainingData, solved: list[str], unsolved: list[str], l2: float | None = None,
               seed: int = 0, target: str = "correct") -> dict:
    """Steps 1-2 of the module docstring on the given threads: pick weights, resolved weights (raw, uncalibrated).

    The resolved model learns ``target``: "correct" (default), a solved thread whose pick is the accepted post, the
    pick judged out of fold (a case worth writing); "solved", any solved thread (the model before issue 18)."""
    xs, ys = [data.x(t) for t in solved], [data.y(t) for t in solved]
    cv = None
    if l2 is None:
        l2, cv = choose_l2(xs, ys, seed=seed)
    w = fit_softmax(xs, ys, l2)
    if target == "correct":  # the pick of each solved thread by a model that did not see it
        right = {}
        for held, _ in stratified_folds(solved, [], seed=seed + 1):
            rest = [t for t in solved if t not in set(held)]
            wf = fit_softmax([data.x(t) for t in rest], [data.y(t) for t in rest], l2)
            right.update({t: int(np.argmax(data.x(t) @ wf)) == data.y(t) for t in held})
        labels = [int(right[t]) for t in solved]
    else:
        labels = [1] * len(solved)
    rx = np.stack([summary(data, w, t) for t in solved + unsolved])
    ry = np.asarray(labels + [0] * len(unsolved))
    rw = fit_logistic(rx, ry)
    return {"weights": w, "resolved_weights": rw, "l2": l2, "cv": cv, "target": target,
            "train_accuracy": accuracy(w, xs, ys), "resolved_train_accuracy": float(np.mean(((rx @ rw) > 0) == ry))}


def summary(data: TrainingData, w: np.ndarray, tid: str) -> np.ndarray:
    x = data.x(tid)
    return thread_summary(data.threads[tid], x @ w if len(x) else np.zeros(0, np.float32))


def stratified_folds(solved: list[str], unsolved: list[str], k: int = FOLDS, seed: int = 0) -> list[tuple[list, list]]:
    """k folds of (solved, unsolved) thread ids, each with its share of both."""
    rng = np.random.default_rng(seed)
    s = np.array_split(rng.permutation(len(solved)), k)
    u = np.array_split(rng.permutation(len(unsolved)), k)
    return [([solved[i] for i in s[f]], [unsolved[i] for i in u[f]]) for f in range(k)]


def out_of_fold(data: TrainingData, solved: list[str], unsolved: list[str], l2: float, seed: int = 0,
                target: str = "correct") -> dict:
    """Each thread scored by the models fitted on the other folds: its resolved logit, whether it is solved,
    whether its best reply is the accepted post and whether it has a reply at all."""
    rows = []
    folds = stratified_folds(solved, unsolved, seed=seed)
    for f, (held_s, held_u) in enumerate(folds):
        rest_s = [t for g, (s, _) in enumerate(folds) if g != f for t in s]
        rest_u = [t for g, (_, u) in enumerate(folds) if g != f for t in u]
        m = fit_models(data, rest_s, rest_u, l2=l2, seed=seed, target=target)
        for t in held_s + held_u:
            x = data.x(t)
            best = int(np.argmax(x @ m["weights"])) if len(x) else None
            rows.append((t, float(summary(data, m["weights"], t) @ m["resolved_weights"]), t in data.gold,
                         t in data.gold and best == data.y(t), best is not None))
    tid, z, s, p, r = zip(*rows)
    return {"ticket_id": list(tid), "logit": np.asarray(z), "solved": np.asarray(s), "picked": np.asarray(p),
            "resolvable": np.asarray(r)}


def fit_platt(z: np.ndarray, y: np.ndarray) -> dict:
    """Platt scaling: probability = sigmoid(a * logit + b), fitted on held-out logits."""
    a_b = fit_logistic(np.stack([np.ones_like(z), z], 1), y, l2=0.0)
    return {"method": "platt", "a": round(float(a_b[1]), 5), "b": round(float(a_b[0]), 5)}


def calibrated(cal: dict, z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(cal["a"] * np.asarray(z, float) + cal["b"])))


def train(data: TrainingData, solved: list[str], unsolved: list[str], seed: int = 0, target: str = "correct") -> dict:
    """The whole scorer (the content of scorer.json, without its manifest) learned from these threads only.

    The calibrated probability is that of a correct case (the thread was resolved and its pick holds the fix), so
    ``resolved_score`` says how likely the written case is right."""
    m = fit_models(data, solved, unsolved, seed=seed, target=target)
    oof = out_of_fold(data, solved, unsolved, m["l2"], seed=seed, target=target)
    correct = oof["solved"] & oof["picked"]
    cal = fit_platt(oof["logit"], (correct if target == "correct" else oof["solved"]).astype(float))
    p = calibrated(cal, oof["logit"])
    return {
        "features": list(FEATURES), "weights": [round(float(v), 5) for v in m["weights"]],
        "thread_features": list(THREAD_FEATURES), "resolved_weights": [round(float(v), 5) for v in m["resolved_weights"]],
        "resolved_target": target, "calibration": cal,
        "operating_points": pr_curve(p, oof["solved"], oof["picked"], oof["resolvable"]),
        "l2": m["l2"], "cv_accuracy": {str(k): round(v, 4) for k, v in m["cv"].items()},
        "train_accuracy": round(m["train_accuracy"], 4), "train_threads": len(solved),
        "resolved_train_accuracy": round(m["resolved_train_accuracy"], 4),
        "resolved_examples": {"resolved": len(solved), "unresolved": len(unsolved)},
        "validation": {
            "what": f"{FOLDS}-fold cross-validation over the training threads (solved and unsolved): the operating "
                    "points and the calibration come from the scores of held-out folds",
            "threads": len(oof["logit"]), "solved": int(oof["solved"].sum()),
            "picker_accuracy": round(float(oof["picked"][oof["solved"]].mean()), 4),
            "calibration_error": expected_calibration_error(p, correct if target == "correct" else oof["solved"]),
            "reliability": reliability(p, correct if target == "correct" else oof["solved"]),
        },
    }


def cross_validate(data: TrainingData, tickets: dict[str, dict], min_precision: float, seed: int = 0,
                   target: str = "correct") -> tuple[list[Outcome], list[dict]]:
    """The case base as the shipped procedure makes it, measured on training threads it did not learn from: for each
    of 5 folds (solved and unsolved threads), the whole scorer (pick model, resolved model, calibration, operating
    points) is learned on the other four by ``train`` and the fold is extracted by ``extract_one`` at the
    ``min_precision`` operating point. Returns each thread's Outcome and each fold's operating point."""
    outcomes, points = [], []
    folds = stratified_folds(sorted(data.gold), data.unsolved, seed=seed)
    for f, (held_s, held_u) in enumerate(folds):
        rest_s = [t for g, (s, _) in enumerate(folds) if g != f for t in s]
        rest_u = [t for g, (_, u) in enumerate(folds) if g != f for t in u]
        scorer = Scorer.from_dict(train(data, rest_s, rest_u, seed=seed, target=target))
        point = scorer.operating_point(min_precision)
        points.append(point)
        for t in held_s + held_u:
            case = extract_one(tickets.get(t, {}), data.threads[t], data.activity, scorer, point["threshold"])
            outcomes.append(outcome(t, data.gold.get(t), case))
    return outcomes, points


def threads_sha256(data: TrainingData) -> str:
    """sha256 of what the scorer learns from: each training thread's roles and redacted bodies, and its label.
    Authors are left out (their pseudonyms are keyed per workspace); their activity counts are in the features."""
    h = hashlib.sha256()
    for t in sorted(data.gold) + sorted(data.unsolved):
        h.update(json.dumps([t, data.gold.get(t), [(m["role"], str(m["body"])) for m in data.threads[t]]]).encode())
    return h.hexdigest()


# How far a re-learned scorer may sit from the shipped one and still be "the same": float32 L-BFGS sums in an
# order that depends on the CPU's vector width, so the optimum of the (strictly convex) objective is reached to
# about 1e-5 on one machine and a few ulps away on another; weights are stored to 5 decimals, so bit-identity
# across machines is not a property anyone can promise. A change to the features, labels or threads moves the
# weights by far more than this (tests/test_extract_measure.py).
WEIGHT_TOLERANCE = 2e-3
RATE_TOLERANCE = 0.02  # operating-point rates: one validation thread flipping near a threshold is ~0.003


def differences(learned: dict, shipped: dict) -> list[str]:
    """What differs between a re-learned scorer and the shipped one beyond float noise (empty: reproduced). The
    same features, regularisation and validation threads; weights and calibration within WEIGHT_TOLERANCE; each
    operating point's rates within RATE_TOLERANCE."""
    out = []
    for key in ("features", "thread_features", "resolved_target", "l2", "train_threads", "resolved_examples"):
        if learned.get(key) != shipped.get(key):
            out.append(f"{key}: {learned.get(key)!r} != {shipped.get(key)!r}")
    for key in ("weights", "resolved_weights"):
        a, b = np.asarray(learned[key], float), np.asarray(shipped[key], float)
        if a.shape != b.shape or not np.allclose(a, b, rtol=0, atol=WEIGHT_TOLERANCE):
            out.append(f"{key}: max difference {np.abs(a - b).max() if a.shape == b.shape else 'shape'}")
    cal_a, cal_b = learned.get("calibration") or {}, shipped.get("calibration") or {}
    if cal_a.keys() != cal_b.keys() or any(abs(cal_a[k] - cal_b[k]) > WEIGHT_TOLERANCE for k in ("a", "b") if k in cal_a):
        out.append(f"calibration: {cal_a} != {cal_b}")
    pa = {p["threshold"]: p for p in learned.get("operating_points") or []}
    pb = {p["threshold"]: p for p in shipped.get("operating_points") or []}
    if pa.keys() != pb.keys():
        out.append("operating_points: other thresholds")
    for t in sorted(pa.keys() & pb.keys()):
        for rate in ("precision", "precision_solved", "recall", "unsolved_called_resolved"):
            x, y = pa[t].get(rate), pb[t].get(rate)
            if (x is None) != (y is None) or (x is not None and abs(x - y) > RATE_TOLERANCE):
                out.append(f"operating point {t} {rate}: {x} != {y}")
    return out


def tune(ws: Workspace, labels: Path, seed: int = 0) -> dict:
    data = load_training(ws, labels)
    result = train(data, sorted(data.gold), data.unsolved, seed=seed)
    ingested = json.loads(ws.manifest_path("ingest").read_text()) if ws.manifest_path("ingest").exists() else {}
    result["manifest"] = {
        "labels_sha256": hashlib.sha256(Path(labels).read_bytes()).hexdigest(),
        "export_sha256": {k: v.get("sha256") for k, v in (ingested.get("inputs") or {}).items()},
        "threads_sha256": threads_sha256(data), "code": code_version(), "seed": seed,
        "command": "python -m casebase.extract.tune --workspace WS --labels solutions.csv",
    }
    result["labels_sha256"] = result["manifest"]["labels_sha256"]  # read by the extract manifest
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", type=Path, required=True, help="an ingested workspace")
    ap.add_argument("--labels", type=Path, required=True, help="CSV with ticket_id, solution_message_id, split")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("scorer.json"))
    args = ap.parse_args()
    result = tune(Workspace.at(args.workspace, create=False), args.labels)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    skip = ("weights", "features", "operating_points")
    print(json.dumps({k: v for k, v in result.items() if not any(s in k for s in skip)}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
