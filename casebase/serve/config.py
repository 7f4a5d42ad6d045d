"""Serving settings (``casebase serve`` and ``casebase suggest``; field descriptions are their --help).

What is served comes from a release (``casebase.releases``); ``k`` and ``max_new_tokens`` default to the release's,
and without a release to the evaluation defaults (``EvaluateConfig``), so no default is written twice.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from casebase.config import StageConfig


class ServeConfig(StageConfig):
    release: str | None = Field(None, description="The release to serve: latest (the newest that is not a trial) "
                                "or a name from `casebase releases`; without any release, retrieval only "
                                "(default: latest).")
    arm: str | None = Field(None, description="Serve this arm ad hoc instead of a release: retrieval, base, base+rag, "
                            "standard, standard+rag or hybrid+rag.")
    llm: str | None = Field(None, description="Base model spec (local, local:PATH, openai:URL#MODEL): must match the "
                            "release's, if it names one.")
    k: int | None = Field(None, ge=1, description="Past cases cited and put in +rag prompts (default: the release's, "
                          "else the evaluation default).")
    max_new_tokens: int | None = Field(None, ge=8, description="Longest draft in tokens (default: the release's, "
                                       "else the evaluation default).")
    batch_size: int = Field(8, ge=1, description="Concurrent drafts generated in one model batch.")
    host: str = Field("127.0.0.1", description="Interface to listen on; beyond loopback only with a token of 16+ "
                      "characters.")
    port: int = Field(8000, ge=1, le=65535, description="Port.")
    allowed_host: list[str] | None = Field(None, description="A Host name clients use to reach the server "
                                           "(repeatable; '*' turns the check off). Loopback names, the --host address "
                                           "and, on 0.0.0.0, this machine's names are allowed.")
    tokens_file: Path | None = Field(None, description="TOML file of named agent tokens (name = \"sha256:<hex>\"), made "
                                     "by `casebase token`; feedback and retained cases record the agent.")
    max_body_bytes: int = Field(64_000, ge=1024, description="Largest request body; a bigger one gets 413.")
    read_timeout_s: float = Field(10.0, gt=0, description="A request body that stalls this long gets 408.")
    workers: int = Field(1, ge=1, le=64, description="Server processes sharing the port, each with its own index "
                         "and query encoder in memory, and the cores split between them; 1 serves from this "
                         "process. For machines with more cores than one process keeps busy (docs/serve.md, "
                         "Several workers).")

    @model_validator(mode="after")
    def _arm_or_release(self):
        if self.arm and self.release:
            raise ValueError("--arm serves an arm ad hoc and --release serves what an evaluation measured: give one")
        return self
