"""What the page shows beside a draft: a plain similarity label per case, and which cited case each sentence
of the draft comes from.

    from casebase.serve.explain import attribute, similarity
    similarity(0.71, threshold=0.52, typical=0.68)   # {"label": "close", "percent_of_threshold": 137}
    attribute("Grant SELECT on the table. Then rerun it.", cited)
    # [{"text": "Grant SELECT on the table. ", "cites": [1], "overlap": 0.75, "source": "overlap"},
    #  {"text": "Then rerun it.", "cites": [], "overlap": 0.0, "source": None}]

Similarity is the dense cosine (never the RRF fusion score, which only orders results) measured against the
index's calibrated abstain threshold (``casebase index``: a low quantile of val problems' best cosine):

- **close**: at least as similar as a typical val ticket's best precedent (the median of their best cosines);
- **related**: above the abstain threshold, below typical;
- **weak**: below the threshold: casebase abstains when even the best case is weak.

Citations are attributed on the server, after generation, so the prompt (and what ``casebase evaluate``
measured under its prompt version) stays as it is. A sentence gets marker ``[n]`` when the model wrote one
itself (the prompt numbers the cases [1], [2], ...), else when at least ``MIN_OVERLAP`` of its words
(``casebase.retrieve.bm25.tokenize``: identifiers whole, no stop words) are in cited case n's solution, the
case with the largest share winning (the closer case on a tie). A sentence that matches no case well enough
gets no marker: the page never claims a source it cannot show.
"""

from __future__ import annotations

import re
from typing import Any

from casebase.retrieve.bm25 import tokenize

MIN_OVERLAP = 0.5  # share of a sentence's words found in a case's solution for it to cite that case
MIN_WORDS = 3  # shorter pieces ("1.", "Then:") join the next sentence instead of standing alone
TYPICAL_FALLBACK = 1.25  # without a calibrated median: "close" is 125% of the threshold and up

# A sentence ends at . ! ? followed by space, or at a line break; the whitespace stays with the sentence so
# the pieces put together are the draft, character for character.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*")
_MARKER = re.compile(r"\[(\d{1,2})\]")


def similarity(cosine: float | None, threshold: float, typical: float | None = None) -> dict[str, Any]:
    """A plain label for a cosine and its percentage of the abstain threshold (100: exactly at the threshold).

    ``typical``: the median best cosine of the calibration (val) problems; ignored unless above ``threshold``."""
    if cosine is None:
        return {"label": None, "percent_of_threshold": None}
    bar = typical if typical is not None and typical > threshold else threshold * TYPICAL_FALLBACK
    label = "close" if cosine >= bar else "related" if cosine >= threshold else "weak"
    percent = round(100 * cosine / threshold) if threshold > 0 else None
    return {"label": label, "percent_of_threshold": percent}


def similarity_in(index, cosine: float | None) -> dict[str, Any]:
    """``similarity`` against ``index``'s own calibration: its abstain threshold and the median best cosine of its
    val problems (the page, the API and ``casebase search``/``suggest`` all label with this)."""
    typical = ((index.manifest.get("abstain") or {}).get("best_similarity") or {}).get("median")
    return similarity(cosine, index.threshold, typical)


def sentences(text: str) -> list[str]:
    """The draft cut into sentences (each with its trailing whitespace); short pieces join the next one."""
    pieces, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        pieces.append(text[start:m.end()])
        start = m.end()
    if start < len(text):
        pieces.append(text[start:])
    merged: list[str] = []
    carry = ""
    for piece in pieces:
        carry += piece
        if len(carry.split()) >= MIN_WORDS:
            merged.append(carry)
            carry = ""
    if carry:  # a short tail joins the sentence before it
        if merged:
            merged[-1] += carry
        else:
            merged.append(carry)
    return merged


def attribute(draft: str | None, cases: list[dict], min_overlap: float = MIN_OVERLAP) -> list[dict[str, Any]]:
    """The draft as sentences, each with the 1-based numbers of the cited cases it comes from (``cites``), the
    share of its words found in that case's solution (``overlap``) and how it was found (``source``: "model"
    for a marker the model wrote, "overlap", or None for no citation)."""
    if not (draft or "").strip():
        return []
    solutions = [set(tokenize(str(c.get("solution") or ""))) for c in cases]
    out = []
    for sentence in sentences(draft):
        written = sorted({int(n) for n in _MARKER.findall(sentence) if 1 <= int(n) <= len(cases)})
        if written:
            out.append({"text": sentence, "cites": written, "overlap": None, "source": "model"})
            continue
        words = set(tokenize(sentence))
        best, share = None, 0.0
        for i, solution in enumerate(solutions, start=1):
            s = len(words & solution) / len(words) if words else 0.0
            if s > share:  # strictly greater: on a tie the closer (earlier) case keeps it
                best, share = i, s
        cited = best is not None and share >= min_overlap
        out.append({"text": sentence, "cites": [best] if cited else [], "overlap": round(share, 3),
                    "source": "overlap" if cited else None})
    return out
