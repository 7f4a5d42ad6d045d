"""The solution scorer: a softmax over a thread's replies (which one holds the fix) and a
logistic model of whether the thread was resolved at all, both linear in the features of
``casebase.extract.features``; the resolved model's logit is calibrated into a probability
(Platt scaling) and the operating points (resolved threshold -> case-base precision and recall)
come with it. All of it lives in ``scorer.json`` (learned on forum-support training threads
by ``python -m casebase.extract.tune``; see docs/extract.md).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from casebase.errors import CasebaseError
from casebase.extract.cache import content_key
from casebase.extract.features import FEATURES, positive, thread_features
from casebase.extract.measure import threshold_for_precision

THREAD_FEATURES = ("bias", "best_score", "score_margin", "has_responder_reply", "customer_confirmed",
                   "last_is_customer", "last_has_question", "log_messages", "last_is_responder")


@dataclass(frozen=True)
class Scorer:
    weights: np.ndarray  # one per FEATURES
    resolved_weights: np.ndarray  # one per THREAD_FEATURES
    meta: dict

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Scorer":
        text = Path(path).read_text() if path else resources.files("casebase.extract").joinpath(
            "scorer.json").read_text()
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict) -> "Scorer":
        """A scorer from the content of a scorer.json (``casebase.extract.tune.train`` returns one)."""
        if data["features"] != list(FEATURES) or data["thread_features"] != list(THREAD_FEATURES):
            raise ValueError("scorer.json was learned for other features: rerun python -m casebase.extract.tune")
        return cls(np.asarray(data["weights"], np.float32), np.asarray(data["resolved_weights"], np.float32), data)

    @property
    def fingerprint(self) -> str:
        """sha256 of what the scorer computes with (its features and weights), not of its name or labels: the
        extraction cache is keyed on it, so re-tuned weights are worked again."""
        return content_key(list(FEATURES), list(THREAD_FEATURES), self.weights.tolist(), self.resolved_weights.tolist(),
                           *((("calibration", self.calibration),) if self.calibration else ()))

    @property
    def calibration(self) -> dict | None:
        """Platt scaling of the resolved logit fitted on held-out folds (None in a scorer.json from before it)."""
        return self.meta.get("calibration")

    def score(self, thread, subject: str = "", activity=None) -> np.ndarray:
        """Raw score of each reply (positions 1..n-1)."""
        return thread_features(thread, subject, activity) @ self.weights

    def top_candidates(self, thread, subject: str = "", activity=None, k: int = 2) -> list[int]:
        """The thread positions of the ``k`` replies the picker ranks highest, best first (the first is
        ``extract_one``'s pick: ties go to the earlier reply, as argmax does); the LLM judge shows the top two."""
        if len(thread) < 2:
            return []
        return [int(i) + 1 for i in np.argsort(-self.score(thread, subject, activity), kind="stable")[:k]]

    def resolved_probability(self, thread, scores: np.ndarray) -> float:
        """The probability that the thread was resolved: the resolved model's logit, calibrated."""
        z = float(thread_summary(thread, scores) @ self.resolved_weights)
        if self.calibration:
            z = self.calibration["a"] * z + self.calibration["b"]
        return 1 / (1 + math.exp(-z))

    def operating_point(self, min_precision: float) -> dict:
        """The resolved threshold that reached case-base precision ``min_precision`` on the scorer's validation
        threads (its lowest such threshold: the most cases), with the precision and recall measured there."""
        points = self.meta.get("operating_points")
        if not points:
            raise CasebaseError("this scorer.json has no operating points: rerun python -m casebase.extract.tune "
                                "(docs/extract.md)")
        return threshold_for_precision(points, min_precision)


def thread_summary(thread, scores: np.ndarray) -> np.ndarray:
    """Thread-level features for the resolved model, from the reply scores."""
    roles = [m["role"] for m in thread]
    bodies = [str(m["body"]) for m in thread]
    top = np.sort(scores)[::-1] if len(scores) else np.zeros(1)
    return np.asarray([
        1.0, top[0] if len(scores) else -5.0, (top[0] - top[1]) if len(top) > 1 else 1.0,
        "responder" in roles[1:], any(r == "customer" and positive(b) for r, b in zip(roles[1:], bodies[1:])),
        roles[-1] == "customer" and len(roles) > 1, "?" in bodies[-1] and len(roles) > 1,
        math.log(len(roles)), roles[-1] == "responder",
    ], dtype=np.float32)


@cache
def default_scorer() -> Scorer:
    return Scorer.load()


EXTRACTION_CODE = ("features.py", "heuristic.py", "llm_method.py", "scorer.py", "../text.py", "../llm/prompts.py")


@cache
def code_version() -> str:
    """sha256 of the source of the code that turns a thread into a case (features, picker, condensing, LLM
    prompt): part of the extraction cache key, so a changed rule re-works every ticket instead of reusing old cases."""
    here = Path(__file__).resolve().parent
    return content_key(*[(name, (here / name).read_bytes().decode("utf-8")) for name in EXTRACTION_CODE])
