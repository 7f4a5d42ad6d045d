"""The LLM judge of the heuristic's uncertain middle (casebase/extract/judge.py), driven by scripted fake LLMs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from casebase.errors import CasebaseError
from casebase.extract import judge as judge_module
from casebase.extract import run
from casebase.extract.heuristic import extract_one
from casebase.extract.judge import SCHEMA, Judge
from casebase.extract.scorer import default_scorer
from casebase.ingest import run as ingest
from casebase.llm import FakeLLM


def thread(*messages):
    return [{"message_id": f"m.{i}", "role": role, "author": role if role == "customer" else f"agent{i % 2}",
             "body": body} for i, (role, body) in enumerate(messages)]


TICKET = {"subject": "PO error"}
THREAD = thread(("customer", "Saving PO 7 fails with message 067 in ME21N."),
                ("responder", "Check the tolerance key in OMR6 and maintain it."),
                ("responder", "Alternatively reset the release strategy in CL20N."),
                ("customer", "ok I will try"))


def judged(reply: str, threshold_offset: float = 0.0, half_width: float = 0.15, ticket=TICKET, th=THREAD):
    """(case before, case after, the fake LLM) for one thread, the band centred on its own score + offset."""
    scorer = default_scorer()
    case = extract_one(ticket, th, None, scorer, 0.5)
    j = Judge("fake", scorer, None, case["resolved_score"] + threshold_offset, half_width)
    j.llm = FakeLLM(lambda messages: reply)
    return case, j.review([(ticket, th)], [case])[0], j.llm


def test_verdict_a_makes_the_top_reply_the_solution():
    case, out, llm = judged('{"verdict": "A"}')
    top = default_scorer().top_candidates(THREAD, "PO error")
    assert top[0] == [m["message_id"] for m in THREAD].index(case["candidate_message_id"])  # extract_one's pick
    assert out["resolved"] is True and out["solution_message_ids"] == [THREAD[top[0]]["message_id"]]
    assert out["solution"] and out["solution"] in THREAD[top[0]]["body"]
    assert out["judge"] == {"model": "fake", "verdict": "A"}
    assert out["resolved_score"] == case["resolved_score"]  # the heuristic's probability stays on record
    prompt = llm.calls[0][0][1]["content"]
    assert "Candidate A (message [%d]" % top[0] in prompt and "Candidate B (message [%d]" % top[1] in prompt


def test_verdict_b_makes_the_runner_up_the_solution():
    _, out, _ = judged('{"verdict": "B"}')
    second = default_scorer().top_candidates(THREAD, "PO error")[1]
    assert out["resolved"] is True and out["solution_message_ids"] == [THREAD[second]["message_id"]]
    assert out["candidate_message_id"] == THREAD[second]["message_id"]
    assert out["judge"]["verdict"] == "B"


def test_verdict_unresolved_drops_a_case_the_heuristic_wrote():
    scorer = default_scorer()
    case = extract_one(TICKET, THREAD, None, scorer, 0.0)  # threshold 0: the heuristic calls it resolved
    assert case["resolved"] and case["solution"]
    j = Judge("fake", scorer, None, case["resolved_score"], 0.15)
    j.llm = FakeLLM(lambda m: 'Sure. {"verdict": "unresolved"}')
    out = j.review([(TICKET, THREAD)], [case])[0]
    assert out["resolved"] is False and out["solution"] == "" and out["solution_message_ids"] == []
    assert out["judge"] == {"model": "fake", "verdict": "unresolved"}


@pytest.mark.parametrize("reply", ["not json at all", '{"verdict": "C"}', '{"answer": "A"}', '{"verdict": "a"}'])
def test_an_invalid_reply_keeps_the_heuristic_call_and_says_why(reply):
    case, out, _ = judged(reply)
    assert {k: v for k, v in out.items() if k != "judge"} == case
    assert out["judge"]["model"] == "fake" and out["judge"]["fallback"].startswith("heuristic kept: ")
    assert "verdict" not in out["judge"]


def test_verdict_b_on_a_thread_with_one_reply_falls_back():
    th = THREAD[:2]
    _, out, llm = judged('{"verdict": "B"}', th=th)
    assert len(llm.calls) == 1 and "one candidate" in out["judge"]["fallback"]


@pytest.mark.parametrize("offset", [0.2, -0.2])  # the band [t - 0.15, t + 0.15) misses the score either side
def test_threads_outside_the_band_are_never_sent(offset):
    case, out, llm = judged('{"verdict": "unresolved"}', threshold_offset=offset)
    assert llm.calls == [] and out == {**case, "judge": None}


@pytest.mark.parametrize("ticket", [{"subject": "PO error", "status": "closed"},
                                    {"subject": "PO error", "resolution": "Maintained the tolerance key."}])
def test_threads_the_desk_decided_are_never_sent(ticket):
    _, out, llm = judged('{"verdict": "unresolved"}', ticket=ticket)
    assert llm.calls == [] and out["judge"] is None


def test_the_schema_constrains_the_verdict_and_the_default_fake_answers_it():
    assert SCHEMA["properties"]["verdict"]["enum"] == ["A", "B", "unresolved"]
    scorer = default_scorer()
    case = extract_one(TICKET, THREAD, None, scorer, 0.5)
    j = Judge("fake", scorer, None, case["resolved_score"], 0.15)
    j.llm = FakeLLM()  # no responder: a reply built from the schema it was given
    assert j.review([(TICKET, THREAD)], [case])[0]["judge"] == {"model": "fake", "verdict": "A"}


def forum(tmp_path):
    tickets, messages = [], []
    bodies = [("customer", "Saving PO {i} fails with message 06{i} in ME21N."),
              ("responder", "Check the tolerance key {i} in OMR6 and maintain it."),
              ("responder", "Alternatively reset the release strategy in CL20N."),
              ("customer", "ok I will try")]
    for i in range(6):
        tid = f"x-{i}"
        tickets.append({"ticket_id": tid, "subject": f"Error {i} in ME21N", "opened_at": f"2024-01-{i + 1:02d}"})
        for p, (role, body) in enumerate(bodies[: 1 if i == 0 else 2 + i % 3]):
            messages.append({"ticket_id": tid, "message_id": f"{tid}.{p}", "position": p, "role": role,
                             "author": role if role == "customer" else f"agent{p}", "sent_at": f"2024-01-{i + 1:02d}",
                             "body": body.format(i=i)})
    t, m = tmp_path / "t.csv", tmp_path / "m.csv"
    pd.DataFrame(tickets).to_csv(t, index=False)
    pd.DataFrame(messages).to_csv(m, index=False)
    return t, m


def test_the_stage_judges_the_band_keys_its_cache_and_counts_the_verdicts(ws, tmp_path, monkeypatch):
    ingest(ws, *forum(tmp_path))
    plain = run(ws)
    before = pd.read_parquet(ws.root / "cases.parquet")
    assert "judge" not in json.loads(before["extractor"][0])

    llm = FakeLLM(lambda m: '{"verdict": "unresolved"}', name="fake")
    monkeypatch.setattr(judge_module, "get_llm", lambda spec: llm)
    manifest = run(ws, judge=True, llm="fake", judge_band=0.5)
    assert manifest["counts"]["worked"] == 6 and manifest["counts"]["from_cache"] == 0  # never the unjudged cases
    lo, hi = manifest["judge"]["band"]
    assert (lo, hi) == (round(max(0, plain["operating_point"]["threshold"] - 0.5), 4),
                        round(min(1, plain["operating_point"]["threshold"] + 0.5), 4))
    sizes = pd.read_parquet(ws.messages).groupby("ticket_id").size()
    expected = [t for t, s in zip(before["ticket_id"], before["resolved_score"]) if lo <= s < hi and sizes[t] > 1]
    assert expected, "the test needs threads in the band"
    assert sum(len(batch) for batch in llm.calls) == len(expected) == manifest["counts"]["judged"]
    assert manifest["judge"]["verdicts"] == {"A": 0, "B": 0, "unresolved": len(expected), "fallback": 0}
    assert manifest["judge"]["model"] == "fake" and manifest["extractor"]["judge"]["prompt_version"]
    cases = pd.read_parquet(ws.root / "cases.parquet").set_index("ticket_id")
    for t in cases.index:
        j = json.loads(cases.loc[t, "extractor"])["judge"]
        assert (j == {"model": "fake", "verdict": "unresolved"}) if t in expected else j is None
        assert not cases.loc[t, "resolved"] if t in expected else True

    assert run(ws, judge=True, llm="fake", judge_band=0.5)["counts"]["from_cache"] == 6
    assert run(ws, judge=True, llm="fake", judge_band=0.4)["counts"]["worked"] == 6  # another band: judged again
    assert run(ws)["counts"]["from_cache"] == 6  # the unjudged cases are still there, untouched
    pd.testing.assert_frame_equal(before, pd.read_parquet(ws.root / "cases.parquet"))


def test_the_judge_key_changes_with_the_model_and_the_band():
    scorer = default_scorer()
    keys = [Judge(spec, scorer, None, 0.4, w).key for spec, w in (("fake", 0.15), ("fake", 0.1),
                                                                  ("openai:http://127.0.0.1:9/v1#m", 0.15))]
    assert keys[0]["band"] == [0.25, 0.55] and keys[0] != keys[1] and keys[0] != keys[2]


def test_judge_needs_an_llm_and_the_heuristic(ws):
    with pytest.raises(CasebaseError, match="--judge needs --llm"):
        run(ws, judge=True)
    with pytest.raises(CasebaseError, match="--method heuristic"):
        run(ws, judge=True, method="llm", llm="fake")


def test_the_cli_maps_judge_and_its_band(ws, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from casebase.cli import app

    ingest(ws, *forum(tmp_path))
    result = CliRunner().invoke(app, ["extract", "--workspace", str(ws.root), "--judge", "--llm", "fake",
                                      "--judge-band", "0.3", "--json"])
    assert result.exit_code == 0, result.output
    config = json.loads((ws.root / "extract.json").read_text())["config"]
    assert config["judge"] is True and config["judge_band"] == 0.3 and config["llm"] == "fake"
