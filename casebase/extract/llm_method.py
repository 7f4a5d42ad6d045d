"""LLM extraction: the model picks the solution message(s) and condenses problem and solution.

The reply is JSON validated with pydantic; an invalid reply is retried once with the
validation error, then the ticket falls back to the heuristic and the reason is recorded
in ``extractor.fallback``. Backends with constrained decoding (openai: vLLM guided JSON)
get the JSON schema; the local backend is steered to open a JSON object.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, ValidationError, field_validator

from casebase.extract.heuristic import RESOLVED_THRESHOLD, extract_one
from casebase.text import PROBLEM_WORDS, SOLUTION_WORDS, condense
from casebase.llm import get_llm, parse_json_object

PROMPT_VERSION = "extract-v2"
MESSAGE_CHARS = 400
MAX_MESSAGES = 12  # the question and the last replies: keeps prompts short on CPU
SYSTEM = (
    "You read support tickets and write the case for a knowledge base. Answer with one JSON object only: "
    '{"problem": "the issue in plain words, at most 80 words, no greetings or names", '
    '"resolved": true or false, "solution_messages": [numbers of the messages that hold the fix], '
    '"solution": "the actions that resolved it, at most 120 words, empty if not resolved", '
    '"urgency": 1 to 5 (1 most urgent), "category": "short area name"}. '
    "If no message fixed the problem, resolved is false and solution is empty: never invent a solution."
)


class Extraction(BaseModel):
    problem: str = Field(min_length=3)
    resolved: bool
    solution_messages: list[int] = Field(default_factory=list)
    solution: str = ""
    urgency: int | None = Field(default=None, ge=1, le=5)
    category: str | None = None

    @field_validator("problem", "solution")
    @classmethod
    def strip(cls, v: str) -> str:
        return v.strip()


SCHEMA = Extraction.model_json_schema()


def thread_prompt(ticket: dict, thread: list[dict]) -> list[dict]:
    subject = ticket.get("subject") if isinstance(ticket.get("subject"), str) else ""
    lines = [f"Subject: {subject}"]
    shown = [0, *range(max(1, len(thread) - MAX_MESSAGES + 1), len(thread))]
    for i in shown:
        if i > 1 and i - 1 not in shown:
            lines.append(f"[... messages 1-{i - 1} omitted]")
        body = thread[i]["body"]
        body = body if len(body) <= MESSAGE_CHARS else body[:MESSAGE_CHARS] + " …"
        lines.append(f"[{i}] {thread[i]['role']}: {body}")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def check(reply: str, thread: list[dict]) -> Extraction:
    """Parse and validate a reply; raises ValueError naming what is wrong."""
    data = parse_json_object(reply)
    if data is None:
        raise ValueError("the reply holds no JSON object")
    try:
        ex = Extraction.model_validate(data)
    except ValidationError as err:
        raise ValueError(f"invalid fields: {err.errors()[0]['loc']} {err.errors()[0]['msg']}") from None
    bad = [n for n in ex.solution_messages if not 1 <= n < len(thread)]
    if bad:
        raise ValueError(f"solution_messages {bad} are not replies of this thread (1..{len(thread) - 1})")
    if ex.resolved and (not ex.solution or not ex.solution_messages):
        raise ValueError("resolved is true but solution or solution_messages is empty")
    return ex


class LlmExtractor:
    def __init__(self, spec: str | None, activity=None, scorer=None, max_new_tokens: int = 256,
                 threshold: float = RESOLVED_THRESHOLD):
        self.llm = get_llm(spec)
        self.activity, self.scorer, self.max_new_tokens = activity, scorer, max_new_tokens
        self.threshold = threshold  # the heuristic fallback's resolved threshold (the stage's operating point)

    def extract(self, items: list[tuple[dict, list[dict]]]) -> list[dict]:
        prompts = [thread_prompt(t, th) for t, th in items]
        replies = self.llm.generate(prompts, self.max_new_tokens, json_schema=SCHEMA)
        results: list[dict | None] = [None] * len(items)
        errors: dict[int, str] = {}
        for i, ((t, th), reply) in enumerate(zip(items, replies)):
            try:
                results[i] = self._case(check(reply, th), th)
            except ValueError as err:
                errors[i] = str(err)
        if errors:  # one retry, telling the model what was wrong
            retry = [i for i in errors]
            again = self.llm.generate(
                [prompts[i] + [{"role": "assistant", "content": replies[i]},
                               {"role": "user", "content": f"That answer is invalid: {errors[i]}. "
                                                           "Reply with the corrected JSON object only."}]
                 for i in retry], self.max_new_tokens, json_schema=SCHEMA)
            for i, reply in zip(retry, again):
                t, th = items[i]
                try:
                    results[i] = self._case(check(reply, th), th)
                except ValueError as err:
                    case = extract_one(t, th, self.activity, self.scorer, self.threshold)
                    case["extractor"] = {"method": "llm", "model": self.llm.name, "prompt_version": PROMPT_VERSION,
                                         "fallback": f"heuristic: {err}"}
                    results[i] = case
        return results

    def _case(self, ex: Extraction, thread: list[dict]) -> dict:
        ids = [thread[n]["message_id"] for n in ex.solution_messages] if ex.resolved else []
        return {"problem": condense(ex.problem, PROBLEM_WORDS), "resolved": ex.resolved,
                "solution_message_ids": ids, "solution": condense(ex.solution, SOLUTION_WORDS) if ex.resolved else "",
                "candidate_message_id": ids[0] if ids else None, "resolved_score": None,
                "category": ex.category, "urgency": str(ex.urgency) if ex.urgency else None,
                "extractor": {"method": "llm", "model": self.llm.name, "prompt_version": PROMPT_VERSION,
                              "fallback": None}}
