"""Ingest: raw helpdesk export -> clean, redacted ``tickets.parquet`` and ``messages.parquet``."""

from casebase.ingest.run import run

__all__ = ["run"]
