"""An LLM judge for the heuristic's uncertain middle: ``casebase extract --judge --llm SPEC``.

    casebase extract --workspace ws --judge --llm openai:http://127.0.0.1:8000/v1#Qwen2.5-7B-Instruct

The heuristic calls a thread resolved when its calibrated ``resolved_score`` reaches the operating point's
threshold. Threads whose score falls in the band ``[threshold - judge_band, threshold + judge_band)``, and whose
call the learned model makes (no ``tickets.status``, written resolution or recorded resolution message: those
decide before the threshold does), go to the model with the picker's top two replies as A and B. It answers
``{"verdict": "A" | "B" | "unresolved"}`` (validated with pydantic; the JSON schema goes to ``generate`` so
constrained backends constrain it): A or B makes that reply the solution, unresolved drops the case. An invalid
answer keeps the heuristic's call and records why. Each judged case's ``extractor.judge`` says which model gave
which verdict (or the fallback reason); threads outside the band carry ``judge: null``.

Untested against a capable model (only SmolLM2-135M is on this machine): measure it with
``bench/extract.py --judge-llm SPEC`` before relying on it (docs/extract.md).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from casebase.extract.heuristic import flag, status_of
from casebase.extract.llm_method import thread_prompt
from casebase.extract.scorer import Scorer
from casebase.llm import get_llm, parse_json_object
from casebase.text import SOLUTION_WORDS, condense

PROMPT_VERSION = "judge-v1"
CANDIDATE_CHARS = 600
MAX_NEW_TOKENS = 24  # {"verdict": "unresolved"} is about ten tokens
SYSTEM = (
    "You check a support ticket for a knowledge base. You get the thread and two candidate replies, A and B: "
    "the two most likely to hold the fix. Decide whether the problem was solved and by which reply. Answer with "
    'one JSON object only: {"verdict": "A"} if reply A holds the fix, {"verdict": "B"} if reply B does, '
    '{"verdict": "unresolved"} if neither does (the problem was never solved, or it was solved elsewhere). '
    "A question, a workaround the asker rejected or a reply that did not work is not a fix."
)


class Verdict(BaseModel):
    verdict: Literal["A", "B", "unresolved"]


SCHEMA = Verdict.model_json_schema()


def band_of(threshold: float, half_width: float) -> tuple[float, float]:
    """The uncertain band around the resolved threshold: scores ``lo <= s < hi`` are judged."""
    return round(max(0.0, threshold - half_width), 4), round(min(1.0, threshold + half_width), 4)


def learned_call(ticket: dict, thread: list[dict]) -> bool:
    """Whether the heuristic's resolved call on this ticket is the threshold's (what the judge may revisit)."""
    written = ticket.get("resolution")
    return (status_of(ticket) is None and not (isinstance(written, str) and written.strip())
            and not any(flag(m.get("resolution")) for m in thread))


def judge_prompt(ticket: dict, thread: list[dict], candidates: list[int]) -> list[dict]:
    """The thread as the LLM method shows it, then the candidate replies A and B in full (up to 600 characters)."""
    shown = thread_prompt(ticket, thread)[1]["content"]
    lines = [shown, ""]
    for letter, i in zip("AB", candidates):
        body = str(thread[i]["body"])
        body = body if len(body) <= CANDIDATE_CHARS else body[:CANDIDATE_CHARS] + " …"
        lines.append(f"Candidate {letter} (message [{i}], {thread[i]['role']}): {body}")
    lines.append('Which candidate holds the fix? Answer {"verdict": "A"}, {"verdict": "B"} or {"verdict": "unresolved"}.')
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def check(reply: str, n_candidates: int) -> str:
    """The verdict of a reply; raises ValueError naming what is wrong."""
    data = parse_json_object(reply)
    if data is None:
        raise ValueError("the reply holds no JSON object")
    try:
        verdict = Verdict.model_validate(data).verdict
    except ValidationError as err:
        raise ValueError(f"invalid fields: {err.errors()[0]['loc']} {err.errors()[0]['msg']}") from None
    if verdict == "B" and n_candidates < 2:
        raise ValueError("verdict B but the thread has one candidate reply")
    return verdict


class Judge:
    """Revisits the heuristic's cases in the band with an LLM (``review``); ``key`` goes into the cache key."""

    def __init__(self, spec: str, scorer: Scorer, activity: dict | None, threshold: float, half_width: float):
        from casebase.arms import base_fingerprint  # the model by content (weights' sha256) where it is local

        self.llm = get_llm(spec)
        self.scorer, self.activity = scorer, activity
        self.band = band_of(threshold, half_width)
        code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
        self.key = {"model": self.llm.name, "weights": base_fingerprint(spec), "band": list(self.band),
                    "prompt_version": PROMPT_VERSION, "code": code}

    def wanted(self, ticket: dict, thread: list[dict], case: dict) -> bool:
        score = case.get("resolved_score")
        return (score is not None and self.band[0] <= score < self.band[1] and len(thread) > 1
                and learned_call(ticket, thread))

    def review(self, items: list[tuple[dict, list[dict]]], cases: list[dict]) -> list[dict]:
        """The cases with the band's ones judged (one batched ``generate``); each gets ``judge``: None when not sent,
        else ``{"model", "verdict"}`` or ``{"model", "fallback"}``."""
        out = [{**c, "judge": None} for c in cases]
        sent = [i for i, ((t, th), c) in enumerate(zip(items, cases)) if self.wanted(t, th, c)]
        if not sent:
            return out
        tops = {}
        for i in sent:
            t, th = items[i]
            subject = t.get("subject") if isinstance(t.get("subject"), str) else ""
            tops[i] = self.scorer.top_candidates(th, subject, self.activity, k=2)
        replies = self.llm.generate([judge_prompt(*items[i], tops[i]) for i in sent], MAX_NEW_TOKENS,
                                    json_schema=SCHEMA)
        for i, reply in zip(sent, replies):
            try:
                verdict = check(reply, len(tops[i]))
            except ValueError as err:
                out[i]["judge"] = {"model": self.llm.name, "fallback": f"heuristic kept: {err}"}
                continue
            out[i] = {**apply(out[i], items[i][1], tops[i], verdict), "judge": {"model": self.llm.name,
                                                                                "verdict": verdict}}
        return out


def apply(case: dict, thread: list[dict], candidates: list[int], verdict: str) -> dict:
    """The case after the verdict: A or B is the solution (resolved), unresolved is no case."""
    if verdict == "unresolved":
        return {**case, "resolved": False, "solution_message_ids": [], "solution": ""}
    pick = candidates["AB".index(verdict)]
    solution = condense(str(thread[pick]["body"]), SOLUTION_WORDS)
    return {**case, "resolved": bool(solution), "solution_message_ids": [thread[pick]["message_id"]] if solution else [],
            "solution": solution, "candidate_message_id": thread[pick]["message_id"]}


def tally(judged: list[dict | None]) -> dict:
    """The manifest's count of the judge's work: threads sent and each verdict (fallback: an invalid answer)."""
    verdicts = {"A": 0, "B": 0, "unresolved": 0, "fallback": 0}
    for j in judged:
        if j:
            verdicts[j.get("verdict") or "fallback"] += 1
    return {"sent": sum(verdicts.values()), "verdicts": verdicts}
