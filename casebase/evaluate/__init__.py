"""Evaluation of every arm (retrieval, base, base+rag, standard, standard+rag, hybrid+rag); see run.py."""

from casebase.evaluate.run import ARMS, EvaluateConfig, run

__all__ = ["ARMS", "EvaluateConfig", "run"]
