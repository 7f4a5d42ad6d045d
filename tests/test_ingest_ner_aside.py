"""The named-entity pass of a large ingest runs in a process of its own (``ner.aside``), loaded while the main
process checks the export and builds the redactor: the same spans, and the main process never loads spaCy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from casebase.ingest.redact import ner

pytest.importorskip("spacy")
pytest.importorskip(ner.MODEL)

REPO = Path(__file__).resolve().parents[1]

ITEMS = [("Thanks, Ingrid Svensson, the report prints now.", [(8, 23)]),
         ("Please ask Marcel Dubois in accounting about the VAT codes.", [(11, 24)]),
         ("The Purchase Ledger screen froze after the update.", [(4, 19)])]


def test_confirm_aside_gives_the_spans_of_confirm_here():
    here = ner.confirm(ITEMS)
    with ner.aside():
        assert ner._ASIDE is not None
        there = ner.confirm(ITEMS)
        described = ner.info()
    assert ner._ASIDE is None  # the process is shut down on leaving
    assert there == here
    assert described["sha256"] == ner.info()["sha256"]


def test_a_large_ingest_leaves_spacy_out_of_the_main_process(tmp_path):
    """Before: the main process imported spaCy and loaded the model (about 1 s of CPU) while the workers ran."""
    from casebase.ingest.workers import PARALLEL_TEXTS
    from casebase.sample.generate import write_sample

    summary = write_sample(tmp_path / "export", n_tickets=600, seed=3, fmt="csv")
    assert summary["tickets"] + summary["history"] > PARALLEL_TEXTS  # the parallel path, or the test proves nothing
    code = (
        "import json, sys\n"
        "from casebase.ingest import run\n"
        "from casebase.workspace import Workspace\n"
        f"m = run(Workspace.at({str(tmp_path / 'ws')!r}), {str(tmp_path / 'export' / 'tickets.csv')!r}, "
        f"{str(tmp_path / 'export' / 'history.csv')!r})\n"
        "print(json.dumps({'spacy': 'spacy' in sys.modules, 'ner': m['redaction']['named_entities'],"
        " 'person': m['counts']['redacted'].get('PERSON', 0)}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["spacy"] is False
    assert result["ner"]["enabled"] and result["ner"]["sha256"] == ner.PINNED  # described by the aside process
    assert result["person"] > 0
