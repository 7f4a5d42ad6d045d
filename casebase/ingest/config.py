"""The ingest stage's settings: ``casebase ingest --config ingest.toml`` or its flags.

    tickets = "export/tickets.xlsx"
    history = "export/history.xlsx"
    mapping = "saleslogix"
    [redact]
    languages = ["en", "de"]
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from casebase.config import StageConfig
from casebase.ingest.redact import RedactConfig


class IngestConfig(StageConfig):
    tickets: Path = Field(description="Ticket table (csv, tsv, xlsx, json, jsonl, parquet).")
    history: Path | None = Field(None, description="Message history table, one row per message.")
    mapping: str = Field("auto", description="auto (recognises the format and says which), a helpdesk (zendesk, "
                         "freshdesk, jira, servicenow, zammad, otrs), a column mapping (canonical, saleslogix) or a "
                         "TOML mapping file (docs/mapping.md).")
    max_body_chars: int = Field(50_000, ge=1, description="Longer texts (message bodies and every ticket field) "
                                "are truncated (counted in the manifest).")
    users: Path | None = Field(None, description="A helpdesk's users export (Zendesk users.json, ...): refines who "
                               "is a customer and who a responder where the connector reads it.")
    replace: bool = Field(False, description="The export is complete: the workspace's tickets become exactly this "
                          "export's. Without it a later export of the same desk is merged in (new and changed "
                          "tickets written, tickets it lacks kept; docs/architecture.md, 'Re-ingest').")
    json_key: str | None = Field(None, description="For a --tickets JSON object holding several arrays: the name "
                                 "of the array of tickets.")
    history_json_key: str | None = Field(None, description="The same for a --history JSON object (e.g. the same "
                                         "file's 'comments').")
    redact: RedactConfig = Field(default_factory=RedactConfig, description="How personal data is redacted (the "
                                 "[redact] table of a config file).")

    def resolved(self) -> "IngestConfig":
        """The same with absolute paths, so the manifest's config runs again from any directory."""
        from casebase.ingest.mappings import builtin_names

        update = {"tickets": self.tickets.resolve(), "history": self.history.resolve() if self.history else None,
                  "users": self.users.resolve() if self.users else None}
        if self.mapping != "auto" and self.mapping not in builtin_names() and Path(self.mapping).is_file():
            update["mapping"] = str(Path(self.mapping).resolve())
        return self.model_copy(update=update)
