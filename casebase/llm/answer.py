"""The answer prompt and the answer format: one definition for training, evaluation and serving.

    from casebase.llm.answer import build_messages, format_answer, parse_answer
    messages = build_messages(problem, cases=retrieved, budget=TokenBudget.of(tokenizer, 640))
    target = format_answer(solution, category="fi", urgency=2)   # what a fine-tuned model learns to write
    parse_answer(reply)  # -> Answer(solution, category, urgency) or None when the reply has no Solution line

A fine-tuned adapter is only as good as the match between the prompt it was trained on and the one
it is asked with, so train, evaluate and serve all call ``build_messages`` and ``parse_answer``.
When the prompt would pass its token budget, the retrieved cases are shortened first, then the
least similar dropped, and only then the ticket's own text cut; the answer is never cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from casebase.llm.prompts import Message

PROMPT_VERSION = "answer-v1"

SYSTEM = ("You are a support engineer for business software (ERP). Given a new support ticket, and possibly "
          "similar past cases with their solutions, write the category, the urgency and the steps that solve the "
          "new ticket. Use a past case only when it fits the new ticket.")

FORMAT = "Category: <category>\nUrgency: <urgency>\nSolution: <the steps that solve the ticket>"
UNKNOWN = "unknown"
MIN_CASE_TOKENS = 24


@dataclass
class Answer:
    solution: str
    category: str | None = None
    urgency: str | None = None


class Counter(Protocol):
    def count(self, text: str) -> int: ...

    def truncate(self, text: str, n: int) -> str: ...


class TokenBudget:
    """Counts and cuts text in a model's tokens; ``limit`` is the most tokens the formatted prompt may take.

    ``render`` turns messages into the exact text the model sees (its chat template); without a tokenizer
    (remote backends) words stand in for tokens, at 4 tokens per 3 words."""

    def __init__(self, limit: int | None, tokenizer: Any = None):
        self.limit, self.tokenizer = limit, tokenizer
        self._ids: dict[str, list[int]] = {}  # the bisection cuts the same texts many times

    def ids(self, text: str) -> list[int]:
        if text not in self._ids:
            self._ids[text] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self._ids[text]

    @classmethod
    def of(cls, tokenizer: Any, limit: int | None) -> "TokenBudget":
        return cls(limit, tokenizer)

    def count(self, text: str) -> int:
        if self.tokenizer is None:
            return -(-len(text.split()) * 4 // 3)
        return len(self.ids(text))

    def truncate(self, text: str, n: int) -> str:
        if self.count(text) <= n:
            return text
        if self.tokenizer is None:
            return " ".join(text.split()[: max(0, n * 3 // 4)]) + " …"
        ids = self.ids(text)[: max(0, n)]
        return self.tokenizer.decode(ids, skip_special_tokens=True).rstrip() + " …"

    def prompt_tokens(self, messages: list[Message]) -> int:
        if self.tokenizer is None or not getattr(self.tokenizer, "chat_template", None):
            return sum(self.count(m["content"]) + 4 for m in messages)
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])


def format_answer(solution: str, category: Any = None, urgency: Any = None) -> str:
    """The structured answer the product shows and a fine-tuned model is trained to write."""
    return (f"Category: {_label(category)}\nUrgency: {_label(urgency)}\n"
            f"Solution: {' '.join(str(solution or '').split())}")


def _label(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value) or str(value).strip() == "":
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


_PLACEHOLDER = re.compile(r"<[^<>]{0,60}>")
_LINE = re.compile(r"^\s*\**\s*(category|urgency|solution)\s*\**\s*:\s*\**\s*(.*)$", re.IGNORECASE)


def parse_answer(text: str) -> Answer | None:
    """The answer in a model reply, or None when it has no non-empty ``Solution:`` part.

    Tolerates what small models add: bold markers, other casing, text before the first field;
    the solution runs to the end of the reply (or to a repeated field)."""
    fields: dict[str, list[str]] = {}
    current = None
    for line in (text or "").splitlines():
        m = _LINE.match(line)
        if m and m.group(1).lower() not in fields:
            current = m.group(1).lower()
            fields[current] = [m.group(2).strip()]
        elif m:  # a field repeated: the model started a second answer
            break
        elif current == "solution":
            fields[current].append(line.strip())
    solution = " ".join(" ".join(fields.get("solution", [])).split())
    if not solution or _PLACEHOLDER.fullmatch(solution):  # an echo of the format is no answer
        return None

    def label(name: str) -> str | None:
        value = " ".join(fields.get(name, [])).strip()
        return None if not value or value.lower() == UNKNOWN or _PLACEHOLDER.fullmatch(value) else value

    return Answer(solution, label("category"), label("urgency"))


def _case_block(i: int, case: dict, problem_cap: int | None, solution_cap: int | None, budget: TokenBudget) -> str:
    problem, solution = str(case.get("problem") or ""), str(case.get("solution") or "")
    if problem_cap is not None:
        problem, solution = budget.truncate(problem, problem_cap), budget.truncate(solution, solution_cap)
    tags = ", ".join(f"{k} {_label(case.get(k))}" for k in ("category", "urgency") if _label(case.get(k)) != UNKNOWN)
    head = f"[{i}] case {case.get('case_id', '?')}" + (f" ({tags})" if tags else "")
    return f"{head}\nProblem: {' '.join(problem.split())}\nSolution: {' '.join(solution.split())}"


def _user(problem: str, blocks: list[str]) -> str:
    parts = [f"New ticket:\n{problem.strip()}"]
    if blocks:
        parts.append("Past cases that may help (most similar first):\n\n" + "\n\n".join(blocks))
    parts.append(f"Answer in exactly this format:\n{FORMAT}")
    return "\n\n".join(parts)


def build_messages(problem: str, cases: list[dict] | None = None, budget: TokenBudget | None = None) -> list[Message]:
    """Chat messages asking for the structured answer to ``problem``, with past ``cases`` as context.

    ``cases``: dicts with case_id, problem, solution, category, urgency (search results), best first.
    Over the budget, each case is cut to a shrinking token cap (its solution keeps twice the problem's
    share), then cases are dropped from the end, and last the ticket text itself is cut."""
    cases = list(cases or [])
    budget = budget or TokenBudget(None)

    def messages(text: str, blocks: list[str]) -> list[Message]:
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": _user(text, blocks)}]

    full = messages(problem, [_case_block(i, c, None, None, budget) for i, c in enumerate(cases, 1)])
    if budget.limit is None or budget.prompt_tokens(full) <= budget.limit:
        return full
    for n in range(len(cases), 0, -1):
        cap = _largest_cap(lambda c: messages(problem, [_case_block(i, case, c, 2 * c, budget)
                                                        for i, case in enumerate(cases[:n], 1)]), budget)
        if cap is not None:
            return messages(problem, [_case_block(i, case, cap, 2 * cap, budget) for i, case in enumerate(cases[:n], 1)])
    overhead = budget.prompt_tokens(messages("", []))
    return messages(budget.truncate(problem, max(1, budget.limit - overhead - 2)), [])


def _largest_cap(render, budget: TokenBudget) -> int | None:
    """The largest per-case token cap (>= MIN_CASE_TOKENS) whose prompt fits, by bisection; None if none fits."""
    if budget.prompt_tokens(render(MIN_CASE_TOKENS)) > budget.limit:
        return None
    lo, hi = MIN_CASE_TOKENS, max(MIN_CASE_TOKENS, budget.limit)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if budget.prompt_tokens(render(mid)) <= budget.limit:
            lo = mid
        else:
            hi = mid - 1
    return lo
