"""A deterministic stand-in LLM for tests and dry runs (``--llm fake``): no model, instant.

    llm = FakeLLM()                                    # echo-like replies
    llm = FakeLLM(responder=lambda messages: "yes")    # scripted replies
    llm.generate(["hello there"]); llm.calls           # [[[{"role": "user", "content": "hello there"}]]]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from casebase.llm.base import LLM, normalise_prompts
from casebase.llm.prompts import Message, cut_at_stop, last_user_text

Responder = Callable[[list[Message]], str]


class FakeLLM(LLM):
    """Replies derived from the prompt alone, so the same prompt always gets the same reply.

    ``calls`` records each ``generate`` call's prompts (as message lists), so tests can assert
    how a stage batches and caches its LLM work.
    """

    def __init__(self, responder: Responder | None = None, name: str = "fake"):
        self.responder = responder
        self.name = name
        self.calls: list[list[list[Message]]] = []

    def generate(self, prompts, max_new_tokens: int = 256, *, temperature: float = 0.0,
                 json_schema: dict | None = None, stop: list[str] | None = None) -> list[str]:
        batch = normalise_prompts(prompts)
        self.calls.append(batch)
        replies = []
        for messages in batch:
            if self.responder is not None:
                reply = self.responder(messages)
            elif json_schema is not None:
                reply = json.dumps(example_for_schema(json_schema, _words(messages, 4)))
            else:
                reply = _echo(messages, max_new_tokens)
            replies.append(cut_at_stop(reply, stop))
        return replies


def _words(messages: list[Message], n: int) -> str:
    return " ".join(last_user_text(messages).split()[:n]) or "text"


def _echo(messages: list[Message], max_new_tokens: int) -> str:
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:8]
    words = f"fake reply {digest}: {_words(messages, 12)}".split()
    return " ".join(words[: max(1, max_new_tokens)])


def example_for_schema(schema: dict, text: str = "text", _root: dict | None = None) -> Any:
    """A small value valid for a simple JSON schema (objects, arrays, scalars, enum, $ref, anyOf).

    Strings get ``text``, booleans false, numbers 0, arrays their minimum number of items.
    Every listed property is filled, not just the required ones, so code reading the reply finds its keys.
    """
    root = _root or schema
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return example_for_schema(target, text, root)
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return example_for_schema(options[0], text, root)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {name: example_for_schema(sub, text, root) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [example_for_schema(schema.get("items", {}), text, root) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return text[: schema.get("maxLength", len(text))].ljust(schema.get("minLength", 0), "x")
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        value = max(0, schema.get("minimum", 0))
        return int(value) if kind == "integer" else float(value)
    return None
