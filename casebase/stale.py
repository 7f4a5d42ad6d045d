"""Stale marks: what ``casebase forget`` flags as built on erased tickets, and what ``casebase serve`` reads.

A manifest (``models/<name>/manifest.json``, ``eval/<run>/summary.json`` and ``manifest.json``,
``releases/<name>/manifest.json``) gets ``"stale": {"reason": "forget: N tickets erased on DATE", "at": ...}``.
Adapters are stale when an erased ticket was in train/val (or the index their RAFT prompts drew on), evaluations
when one was in test, the index or their results; where the record is unclear, they count as stale.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from casebase.erase import SPLITS, load_json
from casebase.workspace import Workspace, file_sha256, write_json


def stale_targets(ws: Workspace, ids: set[str], splits: dict[str, set[str]], index_ids: set[str]) -> list[str]:
    """Manifests (relative paths) of what was built on an erased ticket: adapters (train/val), evaluations (test or
    index, or an erased case among their results) and releases. Where the record is unclear they count as built on it."""
    hit = lambda s: bool(ids & s)  # noqa: E731
    sha = {s: file_sha256(ws.split(s)) for s in SPLITS if (ws.split(s)).exists()}
    out, stale_adapters = [], set()
    for d in sorted(p for p in ws.models.glob("*") if p.is_dir()):
        manifest = load_json(d / "manifest.json")
        if manifest is None and not (d / "adapter_config.json").exists():
            continue
        trained = (manifest or {}).get("inputs", {})
        unclear = any(trained.get(s, {}).get("sha256") != sha.get(s) for s in ("train", "val"))
        if hit(splits["train"] | splits["val"] | index_ids) or unclear:
            stale_adapters.add(d.name)
            out.append(str((d / "manifest.json").relative_to(ws.root)))
            if (d / "merged").is_dir():
                out.append(str((d / "merged" / "casebase-merge.json").relative_to(ws.root)))
    for d in sorted(p for p in ws.evals.glob("*") if p.is_dir()):
        manifest = load_json(d / "manifest.json") or {}
        used = manifest.get("inputs", {})
        results = _result_ids(d / "results.csv")
        adapters = {k.removeprefix("adapter_") for k in used if k.startswith("adapter_")}
        if (hit(splits["test"] | index_ids | results) or used.get("test", {}).get("sha256") != sha.get("test")
                or adapters & stale_adapters):
            out += [str((d / f).relative_to(ws.root)) for f in ("summary.json", "manifest.json") if (d / f).exists()]
    if out:  # a release bundles an adapter and its evaluation: when in doubt, stale with them
        out += [str(p.relative_to(ws.root)) for p in sorted(ws.releases.glob("*/manifest.json"))]
    return out


def mark_stale(path: Path, reason: str, at: str) -> None:
    data = load_json(path) if path.exists() else {}
    if data is None:  # unreadable: a stale marker beside it says the same
        path = path.with_name(path.stem + ".stale.json")
        data = {}
    data["stale"] = {"reason": reason, "at": at}
    write_json(path, data)


def _result_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    res = pd.read_csv(path, dtype=str, keep_default_na=False, usecols=lambda c: c in ("ticket_id", "retrieved_ids"))
    ids = set(res.get("ticket_id", []))
    for cell in res.get("retrieved_ids", []):
        try:
            ids.update(map(str, json.loads(cell or "[]")))
        except (json.JSONDecodeError, TypeError):
            pass
    return ids


def arm_staleness(ws: Workspace, adapter: str | None, summary: str | None) -> dict | None:
    """{"reason", "at", "of", "fix"} when the arm's adapter (models/<adapter>) or the evaluation that chose it
    (its summary.json) is marked stale, else None: what `casebase serve` warns about and /healthz reports."""
    marks = []
    if adapter:
        marks.append(ws.model(adapter) / "manifest.json")
    if summary:
        marks.append(Path(summary))
    found = []
    for path in marks:
        try:
            stale = json.loads(path.read_text()).get("stale")
        except (OSError, json.JSONDecodeError, AttributeError):
            continue
        if isinstance(stale, dict):
            found.append((path, stale))
    if not found:
        return None
    retrain = any(p.parent.parent.name == "models" for p, _ in found)
    return {"reason": "; ".join(f"{p.parent.name}: {s.get('reason')}" for p, s in found),
            "at": max(str(s.get("at")) for _, s in found), "of": [str(p) for p, _ in found],
            "fix": ("retrain it (`casebase train`), then " if retrain else "") + "re-evaluate (`casebase evaluate`)"}
