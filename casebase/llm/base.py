"""The one interface every LLM backend implements: a batch of prompts in, their replies out.

    from casebase.llm import get_llm
    llm = get_llm("fake")                      # or "local", "local:PATH", "openai:URL#MODEL"
    llm.generate(["Say hi"], max_new_tokens=16)
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from casebase.llm.prompts import Message, Prompt, as_messages


class LLM(ABC):
    """A text generator over chat prompts.

    ``generate`` takes prompts, each a list of chat messages (``{"role", "content"}``, formatted
    with the backend's chat template) or a plain string (one user message), and returns the
    assistant reply of each, in the same order. ``temperature == 0`` means greedy decoding.
    ``json_schema`` asks for a JSON object reply (how strictly depends on the backend);
    ``stop`` strings end the reply early and are not part of it.
    """

    name: str = "llm"

    @abstractmethod
    def generate(
        self,
        prompts: list[list[Message]] | list[str],
        max_new_tokens: int = 256,
        *,
        temperature: float = 0.0,
        json_schema: dict | None = None,
        stop: list[str] | None = None,
    ) -> list[str]: ...

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def normalise_prompts(prompts: list[Prompt] | Prompt) -> list[list[Message]]:
    """Prompts as message lists; a lone string or a lone message list is a batch of one."""
    if isinstance(prompts, str):
        return [as_messages(prompts)]
    prompts = list(prompts)
    if prompts and isinstance(prompts[0], dict):  # one conversation passed without the outer list
        return [as_messages(prompts)]
    return [as_messages(p) for p in prompts]
