"""Extract: a clean problem, solution and triage for every ticket (heuristic or LLM)."""

from casebase.extract.run import run

__all__ = ["run"]
