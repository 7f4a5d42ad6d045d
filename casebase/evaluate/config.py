"""The evaluation stage's settings (``casebase evaluate``; field descriptions are its --help)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator

from casebase.config import StageConfig

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class EvaluateConfig(StageConfig):
    """How `casebase evaluate` runs: the one place for its defaults (serving reads k and max_new_tokens from here
    too, through the release)."""

    arms: str | None = Field(None, description="Comma list of retrieval, base, base+rag, standard, standard+rag, "
                             "hybrid+rag (default: every arm whose adapter exists).")
    limit: int | None = Field(None, ge=1, description="Only the first N test tickets (fewer than 30 make a trial "
                              "release).")
    llm: str | None = Field(None, description="Base model for the LLM arms: local, local:PATH, openai:BASE_URL#MODEL "
                            "(adapter arms then ask the models 'standard' and 'hybrid'), fake (default: the adapters' base).")
    gold_file: Path | None = Field(None, description="CSV of ticket_id,solution_message_id: the accepted post is the "
                                   "gold (forum-support's solutions.csv; default: the split file when it has that column).")
    name: str | None = Field(None, description="Run name under eval/ and of its release (default: the time).")
    k: int = Field(3, ge=1, description="Retrieved cases in +rag prompts (and served with the release).")
    max_new_tokens: int = Field(160, ge=8, description="Longest reply in tokens (and served with the release).")
    batch_size: int = Field(8, ge=1, description="Prompts per generation batch.")
    n_resamples: int = Field(2000, ge=1, description="Bootstrap resamples of the 95% intervals.")

    @field_validator("name")
    @classmethod
    def _a_folder_name(cls, value: str | None) -> str | None:
        """The run's folder under eval/ and its release's name: one plain folder name, never `latest`."""
        if value is not None and (value == "latest" or not _NAME.fullmatch(value)):
            raise ValueError(f"{value!r}: give a plain name (letters, digits, . _ -; not 'latest', which means the "
                             "newest release)")
        return value
