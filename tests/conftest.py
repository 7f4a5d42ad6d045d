"""Shared fixtures: an isolated workspace per test, the forum-support data when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORUM = Path(os.environ.get("CASEBASE_FORUM_DATA", REPO.parent / "shared" / "datasets" / "forum-support"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_workspace_env(monkeypatch, tmp_path):
    """No test reads or writes the user's ./workspace by accident."""
    monkeypatch.setenv("CASEBASE_WORKSPACE", str(tmp_path / "default-workspace"))


@pytest.fixture
def ws(tmp_path):
    from casebase.workspace import Workspace

    return Workspace.at(tmp_path / "ws")


@pytest.fixture
def indexed_ws(ws):
    """A workspace holding test_retrieve's train and val cases, indexed with the fake embedder."""
    from casebase.retrieve import build_index
    from test_retrieve import TRAIN, VAL, write_cases

    write_cases(ws.root / "train.jsonl", TRAIN)
    write_cases(ws.root / "val.jsonl", VAL)
    build_index(ws, model="fake")
    return ws


@pytest.fixture(scope="session")
def forum() -> Path:
    """The shared forum-support export; tests that need it skip cleanly where it is absent."""
    if not (FORUM / "messages.csv").exists():
        pytest.skip(f"forum-support data not found at {FORUM}")
    return FORUM
