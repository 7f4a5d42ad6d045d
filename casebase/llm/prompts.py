"""Prompt helpers shared by every backend: message normalisation and JSON extraction.

Later stages (extract, RAG answers, evaluation) add their prompt templates here, so the
wording of every prompt lives in one file.
"""

from __future__ import annotations

import json
from typing import Any

Message = dict[str, str]
Prompt = list[Message] | str

ROLES = ("system", "user", "assistant")


def as_messages(prompt: Prompt) -> list[Message]:
    """A prompt as chat messages: a plain string becomes one user message."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    messages = list(prompt)
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ROLES or not isinstance(message.get("content"), str):
            raise ValueError(f"not a chat message {message!r}: expected {{'role': one of {ROLES}, 'content': str}}")
    return messages


def last_user_text(messages: list[Message]) -> str:
    """The content of the last user message ('' when there is none)."""
    for message in reversed(messages):
        if message["role"] == "user":
            return message["content"]
    return ""


def json_object_end(text: str, start: int = 0) -> int | None:
    """Index just past the balanced ``{...}`` object that opens at ``text[start]``, or None if it never closes.

    Braces inside JSON strings (with escapes) do not count.
    """
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def cut_first_json_object(text: str) -> str:
    """``text`` from its first ``{`` to the end of that balanced object; unchanged when none is complete."""
    start = text.find("{")
    if start < 0:
        return text
    end = json_object_end(text, start)
    return text if end is None else text[start:end]


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in model output, or None.

    Tolerates what small models wrap around it: code fences, prose before, trailing text after.
    Tries each ``{`` in turn, so a stray brace in the prose does not hide the object behind it.
    """
    start = text.find("{")
    while start >= 0:
        end = json_object_end(text, start)
        if end is not None:
            try:
                value = json.loads(text[start:end])
            except json.JSONDecodeError:
                pass
            else:
                if isinstance(value, dict):
                    return value
        start = text.find("{", start + 1)
    return None


def cut_at_stop(text: str, stop: list[str] | None) -> str:
    """``text`` up to the earliest occurrence of any stop string."""
    if not stop:
        return text
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=len(text))
    return text[:cut]
