"""Evaluation: every metric against hand-computed values, the seeded bootstrap, and a fake-LLM run."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from casebase.errors import CasebaseError
from casebase.metrics import (bootstrap_ci, chrf, confusion, macro_f1, paired_bootstrap, rouge_l, squad_tokens,
                              token_prf)
from test_retrieve import write_cases

TEST = [
    ("T01", "ORA-00942 table or view does not exist in the custom report <script>alert(1)</script>",
     "Grant SELECT on the table to the schema.", "Database", "High"),
    ("T02", "Pricing error 06 042 when creating a purchase order in ME21N <img src=x onerror=alert(2)>",
     "Maintain the condition record in MEK1.", "Purchasing", "Medium"),
    ("T03", "Vendor has no open items in the payment run proposal F110",
     "Set the payment method in the vendor master.", "Finance", "Medium"),
]


def test_token_metrics_by_hand():
    assert squad_tokens("The Cat, sat on a mat!") == ["cat", "sat", "on", "mat"]
    p, r, f1 = token_prf("the cat sat down", "a cat sat on the mat")  # cand: cat sat down; ref: cat sat on mat
    assert (p, r) == (pytest.approx(2 / 3), pytest.approx(2 / 4))
    assert f1 == pytest.approx(2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4))
    assert token_prf("", "anything") == (0.0, 0.0, 0.0)
    assert token_prf("x x y", "x y y")[2] == pytest.approx(2 / 3)  # bag overlap: min counts
    # ROUGE-L: LCS("a b c d", "a c d e") = 3 -> P = R = 3/4
    assert rouge_l("a b c d", "a c d e") == pytest.approx(0.75)


def test_chrf_matches_sacrebleu_definition():
    assert chrf("Grant select on the table", "Grant select on the table") == pytest.approx(100.0)
    assert chrf("zzzz", "abcd") == pytest.approx(0.0)
    # Character n-gram F-beta (beta 2), n = 1..6 averaged; for "ab" vs "abc": unigrams P=1, R=2/3;
    # bigrams P=1, R=1/2; n >= 3: no candidate n-grams -> excluded by sacrebleu's effective order.
    p = [1.0, 1.0]
    r = [2 / 3, 1 / 2]
    prec, rec = sum(p) / 2, sum(r) / 2
    expected = 100 * (1 + 4) * prec * rec / (4 * prec + rec)
    assert chrf("ab", "abc") == pytest.approx(expected, abs=0.5)


def test_bootstrap_on_a_seeded_case():
    mean, low, high = bootstrap_ci([0.5] * 10, n_resamples=200, seed=1)
    assert (mean, low, high) == (0.5, 0.5, 0.5)
    values = [0, 1] * 20
    a = bootstrap_ci(values, n_resamples=1000, seed=7)
    assert a == bootstrap_ci(values, n_resamples=1000, seed=7)  # seeded: reproducible
    assert a[0] == 0.5 and a[1] < 0.5 < a[2]
    # The normal approximation of the interval of a mean of 40 fair coins: 0.5 +- 1.96 * 0.5 / sqrt(40) = +-0.155
    assert a[1] == pytest.approx(0.5 - 0.155, abs=0.04) and a[2] == pytest.approx(0.5 + 0.155, abs=0.04)
    d = paired_bootstrap([1.0, 1.0, 1.0], [0.0, 0.0, 0.0], n_resamples=100)
    assert d == {"diff": 1.0, "low": 1.0, "high": 1.0, "p_a_better": 1.0}
    d = paired_bootstrap([0.2, 0.4, 0.6, 0.8], [0.3, 0.5, 0.7, 0.9], n_resamples=100)
    assert d["diff"] == pytest.approx(-0.1) and d["p_a_better"] == 0.0 and d["high"] == pytest.approx(-0.1)


def test_macro_f1_and_confusion_by_hand():
    gold = ["a", "a", "b", "c"]
    pred = ["a", "b", "b", None]
    # a: tp1 fp0 fn1 -> 2/3; b: tp1 fp1 fn0 -> 2/3; c: tp0 -> 0
    assert macro_f1(gold, pred) == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert confusion(gold, pred) == {"a": {"a": 1, "b": 1}, "b": {"b": 1}, "c": {"(none)": 1}}


@pytest.fixture
def eval_ws(indexed_ws):
    ws = indexed_ws
    write_cases(ws.root / "test.jsonl", TEST)
    return ws


def test_recommended_arm_needs_a_paired_interval_above_zero():
    from casebase.evaluate.report import recommend

    def summary(lows):
        return {"paired": {"vs retrieval": {a: {"rouge_l": {"low": low}} for a, low in lows.items()}}}

    ranked = ["base", "hybrid+rag", "retrieval"]  # base has the highest mean, inside the noise
    arm, reason = recommend(summary({"base": -0.005, "hybrid+rag": -0.01}), ranked)
    assert arm == "retrieval" and "no arm beats retrieval" in reason
    arm, _ = recommend(summary({"base": -0.005, "hybrid+rag": 0.002}), ranked)
    assert arm == "hybrid+rag"  # the best arm whose interval clears 0, not the best mean
    assert recommend({"paired": {}}, ["base+rag", "base"])[0] == "base+rag"  # no retrieval arm: best mean


def test_evaluate_with_a_fake_llm_writes_results_summary_and_a_safe_report(eval_ws):
    from casebase.evaluate import run
    from casebase.llm import clear_cache, get_llm

    clear_cache()
    summary = run(eval_ws, llm="fake", name="t", n_resamples=200)
    out = eval_ws.root / "eval" / "t"
    assert summary["arms"] == ["retrieval", "base", "base+rag"]  # no adapters trained: those arms are left out
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 3 * 3 and set(results["arm"]) == {"retrieval", "base", "base+rag"}
    retrieval = results[results["arm"] == "retrieval"].set_index("ticket_id")
    assert retrieval.loc["T01", "answer"] == "Grant SELECT on the new table to the SAPSR3 schema and regenerate the report."
    assert retrieval.loc["T01", "pred_category"] == "Database" and retrieval.loc["T01", "category_correct"] == 1.0
    base = results[results["arm"] == "base"]
    assert not base["parsed"].any()  # the fake's echo has no answer format: counted, not dropped
    assert summary["arms_summary"]["base"]["parse_failures"] == 3
    for col in ("rouge_l", "token_f1", "chrf", "embedding_cosine", "answer_words"):
        assert results[col].notna().all()
    assert set(summary["paired"]) == {"vs retrieval", "vs base+rag"}
    assert summary["triage"]["category"]["retrieval"]["n"] == 3
    saved = json.loads((out / "summary.json").read_text())
    assert saved["best_arm"] in saved["arms"] and (out / "manifest.json").exists()
    assert saved["recommended"] in saved["arms"] and saved["recommended_reason"]
    html = (out / "report.html").read_text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "<img src=x" not in html and "src=\"http" not in html  # escaped, and nothing loaded from the web
    # A second run with the same name generates nothing: every reply comes from the cache.
    fake = get_llm("fake")
    calls = len(fake.calls)
    run(eval_ws, llm="fake", name="t", n_resamples=200)
    assert len(fake.calls) == calls


def test_evaluate_prompts_hold_the_retrieved_cases_only_for_rag_arms(eval_ws):
    from casebase.evaluate import run
    from casebase.llm import clear_cache, get_llm

    clear_cache()
    run(eval_ws, arms="base,base+rag", llm="fake", name="p", n_resamples=50)
    prompts = [m[1]["content"] for call in get_llm("fake").calls for m in call]
    assert sum("Past cases that may help" in p for p in prompts) == 3 == len(prompts) - 3
    assert all("Category: <category>" in p for p in prompts)


def test_evaluate_errors_name_the_fix(eval_ws):
    from casebase.evaluate import run

    with pytest.raises(CasebaseError, match="casebase train --method hybrid"):
        run(eval_ws, arms="hybrid+rag", llm="fake")
    with pytest.raises(CasebaseError, match="choose from"):
        run(eval_ws, arms="best", llm="fake")
    (eval_ws.root / "test.jsonl").unlink()
    with pytest.raises(CasebaseError, match="casebase split"):
        run(eval_ws, llm="fake")
