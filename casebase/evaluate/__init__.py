"""Evaluation of every arm (retrieval, base, base+rag, standard, standard+rag, hybrid+rag); see run.py."""

from casebase.evaluate.run import ARMS, run

__all__ = ["ARMS", "run"]
