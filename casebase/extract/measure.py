"""The case base measured as a user sees it, against threads whose accepted solution is known.

    from casebase.extract.measure import Outcome, case_base_metrics, pr_curve, reliability
    outcomes = [Outcome("t1", gold="t1.3", candidate="t1.3", resolved=True, solution="t1.3", score=0.9), ...]
    case_base_metrics(outcomes)        # picker, end_to_end, precision, recall, unsolved_called_resolved (+ 95% CIs)

Used by ``casebase.extract.tune`` (the operating points shipped in scorer.json) and ``bench/extract.py``.
A thread is *solved* when it has an accepted post (``gold``). The figures:

- picker: of solved threads, the share whose best reply (``candidate``) is the accepted post;
- end_to_end: of solved threads, the share called resolved whose solution is the accepted post. It is also the
  case base's **recall** (of solved threads, how many yield a correct case): the two are one number;
- precision: of the cases written (threads called resolved), the share carrying the accepted post; an unsolved
  thread called resolved is a wrong case (on forum-support a lower bound: some unsolved threads hold a fix nobody
  marked, and their share sets the figure as much as the extractor does);
- precision_solved: of the cases written from solved threads, the share carrying the accepted post (the issue's
  "case-base precision (solved threads)"; it does not depend on how many unsolved threads the export holds, and
  is what ``casebase extract --min-precision`` holds to);
- unsolved_called_resolved: of unsolved threads, the share called resolved (each one a case with a guessed fix).

Intervals are 95% percentile bootstraps over threads (a resample draws whole threads, so the precision's random
denominator is resampled too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from casebase.errors import CasebaseError

METRICS = ("picker", "end_to_end", "precision", "precision_solved", "unsolved_called_resolved",
           "solved_called_resolved")


@dataclass(frozen=True)
class Outcome:
    """What the extractor made of one thread, beside the thread's accepted post (None: unsolved)."""

    ticket_id: str
    gold: str | None
    candidate: str | None  # the picker's best reply (None: no reply to pick)
    resolved: bool  # called resolved: a case with a solution is written
    solution: str | None = None  # the message the written case's solution comes from
    score: float | None = None  # the resolved probability

    @property
    def correct(self) -> bool:
        return bool(self.resolved and self.gold is not None and self.solution == self.gold)


def outcome(ticket_id: str, gold: str | None, case: dict) -> Outcome:
    """The Outcome of a case as ``extract_one`` (or cases.parquet) gives it."""
    ids = list(case.get("solution_message_ids") if case.get("solution_message_ids") is not None else [])
    score, candidate = case.get("resolved_score"), case.get("candidate_message_id")
    missing = lambda v: v is None or (isinstance(v, float) and v != v)  # noqa: E731  (a parquet null reads as NaN)
    return Outcome(ticket_id, gold, None if missing(candidate) else str(candidate), bool(case.get("resolved")),
                   str(ids[0]) if ids else None, None if missing(score) else float(score))


def _indicators(outcomes: Sequence[Outcome]) -> dict[str, np.ndarray]:
    solved = np.array([o.gold is not None for o in outcomes], bool)
    return {
        "solved": solved,
        "picked": np.array([o.gold is not None and o.candidate == o.gold for o in outcomes], bool),
        "resolved": np.array([bool(o.resolved) for o in outcomes], bool),
        "correct": np.array([o.correct for o in outcomes], bool),
    }


def _ratios(w: np.ndarray, ind: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each metric for every row of thread weights ``w`` (B x N: how often each thread is drawn)."""
    s, r, c, p = (ind[k].astype(float) for k in ("solved", "resolved", "correct", "picked"))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "picker": (w @ p) / (w @ s),
            "end_to_end": (w @ c) / (w @ s),
            "precision": (w @ c) / (w @ r),
            "precision_solved": (w @ c) / (w @ (r * s)),
            "unsolved_called_resolved": (w @ (r * (1 - s))) / (w @ (1 - s)),
            "solved_called_resolved": (w @ (r * s)) / (w @ s),
        }


def case_base_metrics(outcomes: Sequence[Outcome], resamples: int = 2000, seed: int = 0) -> dict:
    """The figures of the module docstring, each ``{"value", "ci95": [lo, hi]}``, plus the counts behind them.

    ``recall`` is ``end_to_end`` (the same number, named as a retrieval reader expects it)."""
    if not outcomes:
        raise CasebaseError("no threads to measure: pass at least one Outcome")
    ind = _indicators(outcomes)
    n = len(outcomes)
    point = {k: float(v[0]) for k, v in _ratios(np.ones((1, n)), ind).items()}
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, np.full(n, 1 / n), size=resamples).astype(float)
    boot = _ratios(draws, ind)
    result = {}
    for k in METRICS:
        b = boot[k][np.isfinite(boot[k])]
        value = point[k]
        ci = [float(np.percentile(b, 2.5)), float(np.percentile(b, 97.5))] if b.size and value == value else [None, None]
        result[k] = {"value": None if value != value else round(value, 4),
                     "ci95": [None if v is None else round(v, 4) for v in ci]}
    result["recall"] = result["end_to_end"]
    result["counts"] = {"threads": n, "solved": int(ind["solved"].sum()), "unsolved": int((~ind["solved"]).sum()),
                        "cases_written": int(ind["resolved"].sum()), "correct_cases": int(ind["correct"].sum()),
                        "picked_right": int(ind["picked"].sum())}
    return result


def pr_curve(scores, solved, picked, resolvable=None, thresholds=None) -> list[dict]:
    """The precision/recall curve of the resolved call: for each threshold t, a thread is called resolved when its
    score >= t (and it has a reply to pick, ``resolvable``), and its case is correct when it is solved and its pick is
    the accepted post (``picked``). Each point: threshold, cases (solved_cases of them from solved threads),
    precision, precision_solved, recall (= end to end), unsolved_called_resolved. Thresholds default to 0.00, 0.01,
    ..., 1.00."""
    scores = np.asarray(scores, float)
    solved, picked = np.asarray(solved, bool), np.asarray(picked, bool)
    resolvable = np.ones_like(solved) if resolvable is None else np.asarray(resolvable, bool)
    thresholds = np.round(np.linspace(0, 1, 101), 2) if thresholds is None else np.asarray(thresholds, float)
    good = solved & picked & resolvable
    points = []
    for t in thresholds:
        called = (scores >= t) & resolvable
        cases, from_solved = int(called.sum()), int((called & solved).sum())
        points.append({
            "threshold": round(float(t), 4), "cases": cases, "solved_cases": from_solved,
            "precision": round(float((called & good).sum() / cases), 4) if cases else None,
            "precision_solved": round(float((called & good).sum() / from_solved), 4) if from_solved else None,
            "recall": round(float((called & good).sum() / max(1, solved.sum())), 4),
            "unsolved_called_resolved": round(float((called & ~solved).sum() / max(1, (~solved).sum())), 4),
        })
    return points


def threshold_for_precision(points: Sequence[dict], min_precision: float, min_cases: int = 20,
                            key: str = "precision_solved") -> dict:
    """The operating point of ``pr_curve`` with the lowest threshold (the most cases) whose ``key`` precision is at
    least ``min_precision``, counting only points with ``min_cases`` solved cases or more (a precision over a
    handful of cases is noise). A CasebaseError names the best precision there is when none reaches it."""
    usable = [p for p in points if p.get(key) is not None and p.get("solved_cases", p["cases"]) >= min_cases]
    reaching = [p for p in usable if p[key] >= min_precision]
    if not reaching:
        best = max((p[key] for p in usable), default=None)
        raise CasebaseError(
            f"--min-precision {min_precision} is out of reach: the best case-base precision (solved threads) "
            f"measured on the scorer's validation threads is {best} (over {min_cases}+ cases). "
            f"Use --min-precision {best} or lower.")
    return dict(min(reaching, key=lambda p: p["threshold"]))


def reliability(probabilities, labels, bins: int = 10) -> list[dict]:
    """The reliability curve: for each of ``bins`` equal-width bins of predicted probability, how many threads fall
    in it, their mean predicted probability and the observed share of positives (a calibrated score: the two agree)."""
    p, y = np.asarray(probabilities, float), np.asarray(labels, float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        m = which == b
        rows.append({"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "n": int(m.sum()),
                     "predicted": round(float(p[m].mean()), 4) if m.any() else None,
                     "observed": round(float(y[m].mean()), 4) if m.any() else None})
    return rows


def expected_calibration_error(probabilities, labels, bins: int = 10) -> float:
    """The mean gap between predicted and observed over the reliability bins, weighted by their threads."""
    rows = reliability(probabilities, labels, bins)
    n = sum(r["n"] for r in rows)
    return round(sum(r["n"] * abs(r["predicted"] - r["observed"]) for r in rows if r["n"]) / max(1, n), 4)
