"""Training examples: standard (problem -> answer) and hybrid RAFT (problem + retrieved cases -> answer).

    from casebase.train.data import read_split, build_examples, encode
    cases = read_split(ws, "train")
    examples = build_examples(cases, method="hybrid", index=load_index(ws), k=3, oracle_share=0.8, seed=0)
    features = encode(tokenizer, examples[0], max_length=640)   # input_ids + labels (-100 on the prompt)

RAFT (retrieval-augmented fine-tuning): each hybrid example's context is k train cases found by the
same hybrid search the product runs, never the example's own case or its near-duplicates. For a
share ``oracle_share`` of examples the context holds the *oracle*, the neighbour (among the top
``oracle_depth``) whose solution shares the most words with the example's own (token F1), at a random position among the
k; the other examples get distractors only, k random train cases from outside the example's top
neighbours, so the model learns both to use good precedent and to ignore bad. Each example's
draw is seeded by (seed, case id), so it does not depend on order or on which other cases exist.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from casebase.errors import CasebaseError
from casebase.llm.answer import TokenBudget, build_messages, format_answer
from casebase.metrics import token_prf
from casebase.progress import log

IGNORE = -100
MIN_PROMPT_TOKENS = 48


@dataclass
class Example:
    """One training example before tokenisation; ``context`` holds the retrieved cases shown in the prompt."""

    case_id: str
    problem: str
    answer: str
    context: list[dict] = field(default_factory=list)
    oracle_id: str | None = None
    oracle_in_context: bool | None = None


def read_split(ws, name: str) -> list[dict]:
    """Cases of ``<name>.jsonl`` (written by ``casebase split``) as dicts."""
    from casebase.retrieve.build import read_cases

    path = Path(ws.root) / f"{name}.jsonl"
    ws.require("split", path)
    if not path.exists():
        raise CasebaseError(f"{path} not found: run `casebase split --workspace {ws.root}` first.")
    cases = read_cases(path)
    return cases.astype(object).where(cases.notna(), None).to_dict("records")


def build_examples(cases: list[dict], method: str, index=None, k: int | None = None,
                   oracle_share: float | None = None, oracle_depth: int | None = None,
                   seed: int | None = None) -> list[Example]:
    """One example per case; hybrid ones get RAFT contexts from ``index`` (see the module docstring). Settings not
    given take TrainConfig's defaults (the one place they are written)."""
    from casebase.train.config import TrainConfig

    given = {"k": k, "oracle_share": oracle_share, "oracle_depth": oracle_depth, "seed": seed}
    k, oracle_share, oracle_depth, seed = (TrainConfig.model_fields[f].default if v is None else v
                                           for f, v in given.items())
    examples = [Example(str(c["ticket_id"]), c["problem"], format_answer(c["solution"], c.get("category"),
                                                                         c.get("urgency"))) for c in cases]
    if method == "standard" or k == 0:
        return examples
    if index is None:
        raise CasebaseError("hybrid training needs the retrieval index: run `casebase index` first.")
    texts, ids = [c["problem"] for c in cases], [str(c["ticket_id"]) for c in cases]
    hits = index.search_many(texts, k=max(oracle_depth, k), mode="hybrid", exclude=ids,
                             vectors=index.stored_vectors(ids, texts))
    pool = index.metadata[["case_id", "problem", "solution", "category", "urgency"]]
    pool = pool.astype(object).where(pool.notna(), None).to_dict("records")
    for example, case, hit in zip(examples, cases, hits):
        rng = random.Random(f"{seed}:{example.case_id}")
        neighbours = [_case(r) for r in hit.results]
        if not neighbours:
            continue
        oracle = max(neighbours, key=lambda r: token_prf(r["solution"] or "", case["solution"] or "")[2])
        example.oracle_id = oracle["case_id"]
        if rng.random() < oracle_share:
            context = [r for r in neighbours if r is not oracle][: k - 1]
            context.insert(rng.randrange(len(context) + 1), oracle)
            example.oracle_in_context = True
        else:
            banned = {example.case_id, *(r["case_id"] for r in neighbours)}
            banned |= {index.ids[i] for i in index.excluded_rows(example.case_id)}
            candidates = [c for c in pool if c["case_id"] not in banned]
            context = [_case(c) for c in rng.sample(candidates, min(k, len(candidates)))]
            example.oracle_in_context = False
        example.context = context
    with_oracle = sum(bool(e.oracle_in_context) for e in examples)
    log(f"RAFT contexts: {with_oracle}/{len(examples)} with the oracle case, the rest distractors only")
    return examples


def _case(record: dict) -> dict:
    return {k: record.get(k) for k in ("case_id", "problem", "solution", "category", "urgency")}


def encode(tokenizer, example: Example, max_length: int) -> dict | None:
    """Token ids and labels of one example: the prompt (from ``build_messages``, the inference prompt)
    masked with -100, the answer and the chat template's end-of-turn tokens learned.

    The answer is never cut: the prompt gets ``max_length`` minus the answer's tokens, and
    ``build_messages`` shortens the retrieved context to fit. None when even a minimal prompt
    would not fit beside the answer."""
    answer_turn = _answer_turn(tokenizer, example.answer)
    answer_ids = tokenizer(answer_turn, add_special_tokens=False)["input_ids"]
    budget = max_length - len(answer_ids)
    if budget < MIN_PROMPT_TOKENS:
        return None
    messages = build_messages(example.problem, example.context, TokenBudget.of(tokenizer, budget))
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if len(prompt_ids) + len(answer_ids) > max_length:
        return None
    return {"input_ids": prompt_ids + answer_ids, "labels": [IGNORE] * len(prompt_ids) + answer_ids}


def _answer_turn(tokenizer, answer: str) -> str:
    """The answer as the chat template closes an assistant turn (e.g. ``answer<|im_end|>\\n``)."""
    probe = [{"role": "user", "content": "x"}]
    opened = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
    closed = tokenizer.apply_chat_template(probe + [{"role": "assistant", "content": answer}], tokenize=False)
    if not closed.startswith(opened) or answer not in closed[len(opened):]:
        raise CasebaseError("the base model's chat template does not render an assistant turn after the "
                            "generation prompt; use a standard instruct model (ChatML, Llama 3, ...)")
    return closed[len(opened):]


def collate(features: list[dict], pad_id: int) -> dict:
    """Left-padded tensors of a micro-batch, as long as its longest example (dynamic padding).

    Left padding puts every answer at the end of its row, so the loss needs logits for only the
    last ``keep`` positions (see ``answer_loss``); ``position_ids`` count from each row's first real token."""
    import torch

    width = max(len(f["input_ids"]) for f in features)
    ids = torch.full((len(features), width), pad_id, dtype=torch.long)
    labels = torch.full((len(features), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(features), width), dtype=torch.long)
    keep = 1
    for i, f in enumerate(features):
        n = len(f["input_ids"])
        ids[i, width - n:] = torch.tensor(f["input_ids"])
        labels[i, width - n:] = torch.tensor(f["labels"])
        mask[i, width - n:] = 1
        first = next((j for j, label in enumerate(f["labels"]) if label != IGNORE), n)
        keep = max(keep, n - first + 1)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return {"input_ids": ids, "attention_mask": mask, "position_ids": positions, "labels": labels, "keep": keep}


def answer_loss(model, batch: dict):
    """(sum of cross-entropy over answer tokens, number of answer tokens) of one collated batch.

    Logits are computed for the last ``keep`` positions only (``logits_to_keep``): prompt positions
    carry no loss, and skipping their vocabulary projection saves time and memory (a 128k-token
    vocabulary at 1,024 positions is 0.5 GB of float32 logits per row)."""
    import torch.nn.functional as F

    keep = int(batch["keep"])
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   position_ids=batch["position_ids"], logits_to_keep=keep).logits
    targets = batch["labels"][:, -keep + 1:] if keep > 1 else batch["labels"][:, :0]
    predictions = logits[:, :-1, :].float()
    n = int((targets != IGNORE).sum())
    loss = F.cross_entropy(predictions.reshape(-1, predictions.shape[-1]), targets.reshape(-1),
                           ignore_index=IGNORE, reduction="sum")
    return loss, n


# --- extra chat examples: `casebase train --extra FEEDBACK.jsonl` -------------------------------------------------
#
# One JSON object per line, as `casebase export-feedback` writes them (``feedback_row``):
#   {"messages": [{"role": "system", ...}, {"role": "user", ...}, {"role": "assistant", "content": ANSWER}],
#    "source": "feedback", "suggestion_id": ..., "verdict": "accepted"|"edited", "agent": ..., ...}
# The messages before the last are the exact prompt the served model was given; the last, the answer learned
# (``format_answer``). They are encoded like every other example: the prompt masked, the answer turn learned.

EXTRA_ROLES = ("system", "user", "assistant")
EXTRA_FORMAT = ('Each line needs {"messages": [...]}: chat messages with role system, user or assistant and a string '
                'content, at least one user message, the last one the assistant\'s answer; write the file with '
                '`casebase export-feedback --out FILE`.')


def feedback_row(prompt: list[dict], answer: str, **fields) -> dict:
    """One line of an ``--extra`` file: the prompt messages, the answer as the assistant turn, then ``fields``
    (suggestion_id, verdict, agent, ...)."""
    return {"messages": [*prompt, {"role": "assistant", "content": answer}], "source": "feedback", **fields}


def _check_extra(row: dict) -> str | None:
    messages = row.get("messages")
    if not isinstance(messages, list) or len(messages) < 2:
        return "'messages' must be a list of at least two chat messages (the prompt, then the answer)"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in EXTRA_ROLES or not isinstance(m.get("content"), str):
            return f"messages[{i}] is not {{\"role\": system|user|assistant, \"content\": \"...\"}}"
    if messages[-1]["role"] != "assistant" or not messages[-1]["content"].strip():
        return "the last message must be the assistant's answer, not empty"
    if not any(m["role"] == "user" for m in messages[:-1]):
        return "no user message before the answer"
    return None


def read_extra(paths: list[Path]) -> list[list[dict]]:
    """The chat examples (message lists) of ``--extra`` files; a bad line is a CasebaseError naming its file and line."""
    from casebase.jsonl import read_jsonl

    examples = []
    for path in paths:
        if not Path(path).is_file():
            raise CasebaseError(f"--extra {path}: file not found; write it with "
                                f"`casebase export-feedback --workspace WS --out {path}`.")
        rows = read_jsonl(Path(path), _check_extra, EXTRA_FORMAT, label=f"--extra {path}")
        examples += [row["messages"] for row in rows]
    return examples


def encode_chat(tokenizer, messages: list[dict], max_length: int) -> dict | None:
    """Token ids and labels of a finished chat (``read_extra``): its prompt exactly as given, masked with -100,
    and its last (assistant) turn learned, as ``encode`` does. None when it is longer than ``max_length``: the
    prompt is the one the model was served and is not re-cut."""
    answer_ids = tokenizer(_answer_turn(tokenizer, messages[-1]["content"]), add_special_tokens=False)["input_ids"]
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if len(prompt_ids) + len(answer_ids) > max_length:
        return None
    return {"input_ids": prompt_ids + answer_ids, "labels": [IGNORE] * len(prompt_ids) + answer_ids}


def encode_extra(tokenizer, examples: list[list[dict]], max_length: int) -> tuple[list[dict], int]:
    """(features, number left out as longer than ``max_length``) of ``read_extra``'s examples."""
    encoded = [encode_chat(tokenizer, messages, max_length) for messages in examples]
    kept = [e for e in encoded if e is not None]
    if len(kept) < len(encoded):
        log(f"{len(encoded) - len(kept)} extra examples left out: longer than max_length {max_length}")
    if examples:
        log(f"extra examples: {len(kept)} trained on beside train.jsonl")
    return kept, len(encoded) - len(kept)
