"""Learn the solution scorer's weights from threads whose accepted solution is known.

    python -m casebase.extract.tune --workspace /tmp/ws-forum \
        --labels ../shared/datasets/forum-support/solutions.csv --out casebase/extract/scorer.json

Only threads of the ``train`` split are used (the labels file has ticket_id,
solution_message_id, split). Unlabelled threads opened before the first test thread
serve as examples of unresolved tickets for the resolved model. The pick model is a
softmax over each thread's replies with L2 regularisation, chosen by 5-fold
cross-validation on the training threads.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from casebase.extract.features import FEATURES, thread_features
from casebase.extract.run import load_threads
from casebase.extract.scorer import THREAD_FEATURES, thread_summary
from casebase.workspace import Workspace


def fit_softmax(xs: list[np.ndarray], ys: list[int], l2: float) -> np.ndarray:
    w = torch.zeros(xs[0].shape[1], requires_grad=True)
    xt = [torch.from_numpy(x) for x in xs]
    opt = torch.optim.LBFGS([w], max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = sum(-torch.log_softmax(x @ w, 0)[y] for x, y in zip(xt, ys)) / len(xt) + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy()


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    w = torch.zeros(x.shape[1], requires_grad=True)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))
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


def tune(ws: Workspace, labels: Path, l2_grid=(1e-3, 3e-3, 1e-2, 3e-2), seed: int = 0) -> dict:
    tickets, threads, activity = load_threads(ws)
    subjects = dict(zip(tickets["ticket_id"], tickets["subject"].fillna("")))
    lab = pd.read_csv(labels)
    train = lab[lab["split"] == "train"]
    xs, ys = [], []
    for tid, sol in zip(train["ticket_id"], train["solution_message_id"]):
        th = threads.get(tid)
        ids = [m["message_id"] for m in th[1:]] if th else []
        if sol in ids:
            xs.append(thread_features(th, subjects.get(tid, ""), activity))
            ys.append(ids.index(sol))
    rng = np.random.default_rng(seed)
    folds = np.array_split(rng.permutation(len(xs)), 5)
    cv = {}
    for l2 in l2_grid:
        accs = []
        for k in range(5):
            tr = [i for f in range(5) if f != k for i in folds[f]]
            w = fit_softmax([xs[i] for i in tr], [ys[i] for i in tr], l2)
            accs.append(accuracy(w, [xs[i] for i in folds[k]], [ys[i] for i in folds[k]]))
        cv[l2] = float(np.mean(accs))
    best_l2 = max(cv, key=cv.get)
    w = fit_softmax(xs, ys, best_l2)

    # resolved model: labelled train threads are resolved; unlabelled threads opened before the
    # first test thread (so never a test thread) are the unresolved examples
    test_ids = set(lab.loc[lab["split"] == "test", "ticket_id"])
    cutoff = tickets.loc[tickets["ticket_id"].isin(test_ids), "opened_at"].min()
    unlabelled = tickets.loc[~tickets["ticket_id"].isin(lab["ticket_id"]) & (tickets["opened_at"] < cutoff), "ticket_id"]
    rx, ry = [], []
    for tid, label in [(t, 1) for t in train["ticket_id"]] + [(t, 0) for t in unlabelled]:
        th = threads.get(tid)
        if not th:
            continue
        scores = thread_features(th, subjects.get(tid, ""), activity) @ w if len(th) > 1 else np.zeros(0, np.float32)
        rx.append(thread_summary(th, scores))
        ry.append(label)
    rw = fit_logistic(np.stack(rx), np.asarray(ry))
    resolved_acc = float(np.mean(((np.stack(rx) @ rw) > 0) == np.asarray(ry, bool)))
    return {
        "features": list(FEATURES), "weights": [round(float(v), 5) for v in w],
        "thread_features": list(THREAD_FEATURES), "resolved_weights": [round(float(v), 5) for v in rw],
        "l2": best_l2, "cv_accuracy": {str(k): round(v, 4) for k, v in cv.items()},
        "train_accuracy": round(accuracy(w, xs, ys), 4), "train_threads": len(xs),
        "resolved_train_accuracy": round(resolved_acc, 4),
        "resolved_examples": {"resolved": int(sum(ry)), "unresolved": int(len(ry) - sum(ry))},
        "labels_sha256": hashlib.sha256(Path(labels).read_bytes()).hexdigest(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", type=Path, required=True, help="an ingested workspace")
    ap.add_argument("--labels", type=Path, required=True, help="CSV with ticket_id, solution_message_id, split")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("scorer.json"))
    args = ap.parse_args()
    result = tune(Workspace.at(args.workspace, create=False), args.labels)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if "weights" not in k and k != "features"}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
