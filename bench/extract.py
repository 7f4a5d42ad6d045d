"""The case base measured as a user sees it, on forum-support, against the accepted solutions.

    .venv/bin/python bench/extract.py                   # heuristic (CV on train + test), SmolLM2 on 20 test threads
    .venv/bin/python bench/extract.py --llm-threads 0   # heuristic and baselines only
    .venv/bin/python bench/extract.py --llm-threads 0 --min-precision 0.9
    .venv/bin/python bench/extract.py --llm-threads 0 --judge-llm openai:http://127.0.0.1:8000/v1#MODEL

Two populations, each all threads of a period (solved and unsolved, as an export holds them): **train** (the
solved train threads of solutions.csv and the unsolved threads opened before the first test thread of their
source) measured by 5-fold cross-validation, the whole scorer (pick model, resolved model, calibration, operating
points: ``casebase.extract.tune.train``) learned on four folds and the fifth extracted; **test** (the solved test
threads and the unsolved threads of the test period) extracted by ``casebase extract`` with the shipped scorer.
For each: picker accuracy, end to end (= recall), case-base precision (unsolved threads called resolved count as
wrong) and precision on solved threads, the share of unsolved threads called resolved, each with a 95% bootstrap
interval over threads (``casebase.extract.measure``); the precision/recall curve of the resolved call; the
reliability curve of ``resolved_score``; baselines (first / last / longest responder reply) and the LLM method
on the first N solved test threads; with ``--judge-llm SPEC``, the heuristic's test cases revisited by the LLM
judge (``casebase extract --judge``: only the threads of its uncertain band are sent) and measured the same way.
Nothing is tuned on test. Writes bench/out/extract.json.
"""

from __future__ import annotations

import _venv  # noqa: F401  (re-runs under .venv/bin/python)
import argparse
import json
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
from casebase.extract import tune  # noqa: E402
from casebase.extract.judge import Judge, apply, tally  # noqa: E402
from casebase.extract.llm_method import LlmExtractor  # noqa: E402
from casebase.extract.measure import (case_base_metrics, expected_calibration_error, outcome, pr_curve,  # noqa: E402
                                      reliability)
from casebase.extract.run import ExtractConfig  # noqa: E402
from casebase.extract.scorer import Scorer, default_scorer  # noqa: E402
from casebase.ingest import run as ingest  # noqa: E402
from casebase.metrics import rouge_l, wilson_interval  # noqa: E402
from casebase.workspace import Workspace  # noqa: E402

FORUM = REPO.parent / "shared" / "datasets" / "forum-support"
SHOWN = ("picker", "end_to_end", "precision", "precision_solved", "unsolved_called_resolved")


def baseline_pick(thread: list[dict], kind: str) -> str | None:
    replies = [m for m in thread[1:] if m["role"] == "responder"]
    if not replies:
        return None
    if kind == "first":
        return replies[0]["message_id"]
    if kind == "last":
        return replies[-1]["message_id"]
    return max(replies, key=lambda m: len(m["body"]))["message_id"]


def acc_row(method: str, split: str, hits: list[bool], extra: dict | None = None) -> dict:
    k, n = int(sum(hits)), len(hits)
    lo, hi = wilson_interval(k, n)
    return {"method": method, "split": split, "n": n, "picker": round(k / n, 3) if n else None,
            "picker_ci95": [round(lo, 3), round(hi, 3)], **(extra or {})}


def curves(outcomes) -> dict:
    """The precision/recall curve and the reliability of resolved_score (against a correct case) of some outcomes."""
    score = np.array([o.score if o.score is not None else 0.0 for o in outcomes])
    solved = np.array([o.gold is not None for o in outcomes])
    picked = np.array([o.gold is not None and o.candidate == o.gold for o in outcomes])
    resolvable = np.array([o.candidate is not None for o in outcomes])
    correct = solved & picked & resolvable
    return {"pr_curve": pr_curve(score, solved, picked, resolvable), "reliability": reliability(score, correct),
            "calibration_error": expected_calibration_error(score, correct)}


def fmt(m: dict) -> str:
    v, (lo, hi) = m["value"], m["ci95"]
    return "-" if v is None else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llm", default=None, help="LLM spec for the llm method (default: local SmolLM2)")
    ap.add_argument("--llm-threads", type=int, default=20, help="first N solved test threads for the llm method (0: skip)")
    ap.add_argument("--min-precision", type=float, default=ExtractConfig.model_fields["min_precision"].default,
                    help="the operating point measured (default: the extract stage's default)")
    ap.add_argument("--judge-llm", default=None, help="LLM spec for the judge of the uncertain band on the test "
                    "threads (casebase extract --judge; default: not measured)")
    ap.add_argument("--judge-band", type=float, default=ExtractConfig.model_fields["judge_band"].default,
                    help="the judged band's half-width around the threshold (default: the extract stage's)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "extract.json")
    args = ap.parse_args()
    if not (FORUM / "solutions.csv").exists():
        sys.exit(f"forum-support not found at {FORUM}")
    progress.set_enabled(False)
    labels_path = FORUM / "solutions.csv"
    labels = pd.read_csv(labels_path)
    gold = dict(zip(labels["ticket_id"], labels["solution_message_id"]))
    rows, report = [], {"command": " ".join(["bench/extract.py", *sys.argv[1:]]), "min_precision": args.min_precision}
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.at(tmp)
        ingest(ws, FORUM / "tickets.csv", FORUM / "messages.csv")
        t0 = time.perf_counter()
        manifest = extract(ws, min_precision=args.min_precision)
        heuristic_tpm = manifest["counts"]["tickets"] / (time.perf_counter() - t0) * 60
        cases = pd.read_parquet(ws.root / "cases.parquet").set_index("ticket_id")
        tickets_df = pd.read_parquet(ws.tickets)
        data = tune.load_training(ws, labels_path)
        threads, bodies = data.threads, {m["message_id"]: m["body"] for th in data.threads.values() for m in th}
        tickets = {t["ticket_id"]: t for t in tickets_df.to_dict("records")}

        # the shipped scorer must be what tune makes of these inputs (scorer.json's manifest names them)
        t1 = time.perf_counter()
        learned = tune.tune(ws, labels_path)
        retuned = Scorer.from_dict(learned)
        report["scorer"] = {"shipped": default_scorer().fingerprint, "retuned_here": retuned.fingerprint,
                            "reproduced": not tune.differences(learned, default_scorer().meta),
                            "bit_identical": retuned.fingerprint == default_scorer().fingerprint,
                            "tune_seconds": round(time.perf_counter() - t1, 1),
                            "operating_point": manifest["operating_point"]}

        populations = {
            "test": [t for t in labels.loc[labels["split"] == "test", "ticket_id"] if t in threads]
            + tune.test_window_unsolved(tickets_df, labels, threads)}
        t1 = time.perf_counter()
        cv_outcomes, cv_points = tune.cross_validate(data, tickets, args.min_precision)
        report["cv"] = {"folds": tune.FOLDS, "seconds": round(time.perf_counter() - t1, 1),
                        "operating_points": cv_points}
        measured = {"train (5-fold CV)": cv_outcomes,
                    "test": [outcome(t, gold.get(t), cases.loc[t].to_dict()) for t in populations["test"]]}

        for split, outcomes in measured.items():
            solved_ids = [o.ticket_id for o in outcomes if o.gold is not None]
            for kind in ("first", "last", "longest"):
                rows.append(acc_row(f"baseline: {kind} responder reply", split,
                                    [baseline_pick(threads[t], kind) == gold[t] for t in solved_ids]))
            metrics = case_base_metrics(outcomes)
            rouge = [rouge_l(cases.loc[o.ticket_id, "solution"], bodies[o.gold])  # condensed vs the accepted post
                     for o in outcomes if o.correct] if split == "test" else []
            rows.append({"method": "heuristic (cases written)", "split": split, **metrics,
                         "rouge_l_of_correct_cases": round(float(np.mean(rouge)), 3) if rouge else None,
                         "tickets_per_min": round(heuristic_tpm) if split == "test" else None})
            report.setdefault("curves", {})[split] = curves(outcomes)

        if args.judge_llm:  # the shipped scorer's test cases, the band's threads judged as the stage would
            test = populations["test"]
            judge = Judge(args.judge_llm, default_scorer(), data.activity,
                          manifest["operating_point"]["threshold"], args.judge_band)
            t0 = time.perf_counter()
            judged = []
            for i in range(0, len(test), 64):
                chunk = test[i: i + 64]
                judged.extend(judge.review([(tickets[t], threads[t]) for t in chunk],
                                           [cases.loc[t].to_dict() for t in chunk]))
            secs = time.perf_counter() - t0
            counts = tally([j["judge"] for j in judged])
            outcomes = [outcome(t, gold.get(t), j) for t, j in zip(test, judged)]
            sent = [k for k, j in enumerate(judged) if j["judge"]]
            report["judge"] = {**judge.key, **counts, "seconds": round(secs, 1),
                               "correct_cases_of_the_sent": {  # heuristic vs judged, on the threads sent
                                   "heuristic": sum(measured["test"][k].correct for k in sent),
                                   "judged": sum(outcomes[k].correct for k in sent)}}
            rows.append({"method": f"heuristic + judge ({judge.llm.name})", "split": "test",
                         **case_base_metrics(outcomes), "judged": counts["sent"],
                         "tickets_per_min": round(counts["sent"] / max(secs, 1e-9) * 60, 2)})
            ceiling = []  # the same threads judged by an oracle: A or B when it is the accepted post, else unresolved
            for t, j in zip(test, judged):
                case = cases.loc[t].to_dict()
                if j["judge"]:
                    top = default_scorer().top_candidates(threads[t], data.subjects.get(t, ""), data.activity)
                    ids = [threads[t][i]["message_id"] for i in top]
                    case = apply(case, threads[t], top, "AB"[ids.index(gold[t])] if gold.get(t) in ids else "unresolved")
                ceiling.append(outcome(t, gold.get(t), case))
            rows.append({"method": "heuristic + an oracle judge (the ceiling of this band)", "split": "test",
                         **case_base_metrics(ceiling), "judged": counts["sent"]})

        if args.llm_threads:
            test_ids = [t for t in labels.loc[labels["split"] == "test", "ticket_id"] if t in threads][: args.llm_threads]
            ex = LlmExtractor(args.llm, activity=data.activity)
            items = [(tickets[t], threads[t]) for t in test_ids]
            t0 = time.perf_counter()
            out = []
            for i in range(0, len(items), 8):
                out.extend(ex.extract(items[i: i + 8]))
            secs = time.perf_counter() - t0
            hits = [bool(r["solution_message_ids"]) and r["solution_message_ids"][0] == gold[t]
                    for t, r in zip(test_ids, out)]
            rows.append(acc_row(f"llm ({ex.llm.name}), end to end", "test", hits, {
                "fallbacks_to_heuristic": sum(r["extractor"]["fallback"] is not None for r in out),
                "called_resolved": round(float(np.mean([r["resolved"] for r in out])), 3),
                "tickets_per_min": round(len(items) / secs * 60, 2)}))

    print_report(rows, report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**report, "results": rows}, indent=2, default=float))
    print(f"wrote {args.out}")


def print_report(rows: list[dict], report: dict) -> None:
    print(f"operating point: --min-precision {report['min_precision']} -> threshold "
          f"{report['scorer']['operating_point']['threshold']} (shipped scorer; CV folds: "
          f"{[p['threshold'] for p in report['cv']['operating_points']]})")
    print(f"shipped scorer reproduced by tune on this ingest: {report['scorer']['reproduced']}")
    print("\n| method | split | threads (solved/unsolved) | picker | end to end (= recall) | precision | "
          "precision (solved) | unsolved called resolved |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "precision" in r:
            c = r["counts"]
            print(f"| {r['method']} | {r['split']} | {c['threads']} ({c['solved']}/{c['unsolved']}) | "
                  + " | ".join(fmt(r[k]) for k in SHOWN) + " |")
        else:
            lo, hi = r["picker_ci95"]
            print(f"| {r['method']} | {r['split']} | {r['n']} solved | {r['picker']:.3f} [{lo:.3f}, {hi:.3f}] |")
    if "judge" in report:
        j = report["judge"]
        print(f"\njudge {j['model']}: band {j['band']}, {j['sent']} test threads sent, verdicts {j['verdicts']}; "
              f"correct cases among them: heuristic {j['correct_cases_of_the_sent']['heuristic']}, "
              f"judged {j['correct_cases_of_the_sent']['judged']} ({j['seconds']} s)")
    for split, c in report["curves"].items():
        print(f"\nprecision/recall of the resolved call, {split} (threshold on resolved_score):")
        print("| threshold | cases | precision | precision (solved) | recall | unsolved called resolved |")
        print("|---:|---:|---:|---:|---:|---:|")
        for p in c["pr_curve"][::5]:
            print(f"| {p['threshold']:.2f} | {p['cases']} | {p['precision']} | {p['precision_solved']} | "
                  f"{p['recall']} | {p['unsolved_called_resolved']} |")
        print(f"reliability of resolved_score against a correct case, {split} (ECE {c['calibration_error']}):")
        print("| bin | threads | predicted | observed |\n|---|---:|---:|---:|")
        for b in c["reliability"]:
            print(f"| {b['bin']} | {b['n']} | {b['predicted']} | {b['observed']} |")


if __name__ == "__main__":
    main()
