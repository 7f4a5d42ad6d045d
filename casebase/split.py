"""The split stage: resolved cases into train / val / test without leakage.

    casebase split --workspace ws                                  # time-based 75/10/15
    casebase split --workspace ws --split-file solutions.csv       # an external split

Time-based by default: the newest ``test_share`` of resolved cases is test, the next
``val_share`` is val, the rest train. Near-duplicates of test cases (word-trigram Jaccard
of the problem at or above ``dedup_threshold``) are removed from train and val, so a
reopened ticket cannot leak its test twin's answer. Writes ``train.jsonl``, ``val.jsonl``,
``test.jsonl`` and ``split.json``.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd
from pydantic import Field, model_validator

from casebase.config import StageConfig, resolve
from casebase.errors import CasebaseError
from casebase.workspace import Manifest, Workspace, atomic_write, file_sha256, read_parquet, write_manifest

FIELDS = ["ticket_id", "opened_at", "problem", "solution", "category", "urgency", "solution_message_ids"]
SPLITS = ("train", "val", "test")
_TOKEN = re.compile(r"[a-z0-9<>]+")


def shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    words = _TOKEN.findall(text.lower())
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i: i + n]) for i in range(len(words) - n + 1)}


def near_duplicates(candidates: dict[str, str], targets: dict[str, str], threshold: float) -> dict[str, tuple[str, float]]:
    """For each candidate id whose text has Jaccard >= threshold with some target: (target id, similarity).
    An inverted index over trigrams keeps this far from quadratic."""
    target_sh = {tid: shingles(t) for tid, t in targets.items()}
    index: dict[tuple, list[str]] = defaultdict(list)
    for tid, sh in target_sh.items():
        for s in sh:
            index[s].append(tid)
    found = {}
    for cid, text in candidates.items():
        sh = shingles(text)
        if not sh:
            continue
        shared = Counter(t for s in sh for t in index.get(s, ()))
        best = None
        for tid, k in shared.items():
            jac = k / (len(sh) + len(target_sh[tid]) - k)
            if jac >= threshold and (best is None or jac > best[1]):
                best = (tid, round(jac, 3))
        if best:
            found[cid] = best
    return found


def assign_by_time(cases: pd.DataFrame, test_share: float, val_share: float) -> pd.Series:
    order = cases.sort_values(["opened_at", "ticket_id"]).index
    n = len(order)
    n_test, n_val = round(n * test_share), round(n * val_share)
    split = pd.Series("train", index=cases.index)
    split[order[n - n_test:]] = "test"
    split[order[n - n_test - n_val: n - n_test]] = "val"
    return split


def assign_from_file(cases: pd.DataFrame, path: Path, val_share: float) -> tuple[pd.Series, int]:
    ext = pd.read_csv(path, dtype=str)
    missing = [c for c in ("ticket_id", "split") if c not in ext.columns]
    if missing:
        raise CasebaseError(f"{path}: needs columns ticket_id and split; missing {missing}; found {list(ext.columns)}.")
    bad = sorted(set(ext["split"]) - set(SPLITS))
    if bad:
        raise CasebaseError(f"{path}: split values {bad} are not {', '.join(SPLITS)}.")
    given = dict(zip(ext["ticket_id"], ext["split"]))
    split = cases["ticket_id"].map(given)
    unlisted = int(split.isna().sum())
    if "val" not in given.values() and val_share > 0:  # carve val from the newest train cases
        train = cases[split == "train"].sort_values(["opened_at", "ticket_id"])
        n_val = round(len(train) * val_share)
        split[train.index[len(train) - n_val:]] = "val"
    return split, unlisted


def vouch_listed(ws: Workspace, all_cases: pd.DataFrame, listed: set[str]) -> tuple[pd.DataFrame, int]:
    """Resolved cases, plus the listed tickets the extractor called unresolved, whose solution
    becomes its best candidate reply (a real message, never generated text)."""
    from casebase.text import SOLUTION_WORDS, condense

    candidate = all_cases.get("candidate_message_id", pd.Series(None, index=all_cases.index, dtype=object))
    take = all_cases["ticket_id"].isin(listed) & ~all_cases["resolved"] & candidate.notna()
    cases = all_cases[all_cases["resolved"] | take].copy()
    if take.any():
        ws.require("ingest", ws.messages)
        msgs = read_parquet(ws.messages, f"casebase ingest --workspace {ws.root}", columns=["message_id", "body"])
        bodies = dict(zip(msgs["message_id"], msgs["body"]))
        idx = cases.index[take[cases.index]]
        cases.loc[idx, "solution"] = [condense(bodies.get(m, ""), SOLUTION_WORDS) for m in cases.loc[idx, "candidate_message_id"]]
        cases.loc[idx, "solution_message_ids"] = pd.Series([[m] for m in cases.loc[idx, "candidate_message_id"]],
                                                           index=idx, dtype=object)
    return cases, int(take.sum())


class SplitConfig(StageConfig):
    test_share: float = Field(0.15, ge=0, lt=1, description="Newest share of resolved cases for test.")
    val_share: float = Field(0.10, ge=0, lt=1, description="Next newest share for validation.")
    split_file: Path | None = Field(None, description="CSV of ticket_id,split to honour an external split (val "
                                    "carved from train if absent).")
    dedup_threshold: float = Field(0.6, gt=0, le=1, description="Trigram Jaccard at which a train/val case counts "
                                   "as a near-duplicate of a test case.")

    @model_validator(mode="after")
    def _shares_leave_train(self):
        if self.test_share + self.val_share >= 1:
            raise ValueError(f"--test-share {self.test_share} and --val-share {self.val_share} must sum below 1 "
                             "(the rest is train)")
        return self


def run(ws: Workspace, cfg: SplitConfig | None = None, **overrides) -> Manifest:
    """Split the resolved cases of cases.parquet; return the manifest. ``run(ws, SplitConfig(...))`` or
    ``run(ws, test_share=0.2)``."""
    cfg = resolve(SplitConfig, cfg, overrides, "split")
    if cfg.split_file is not None:  # absolute in the manifest, so `casebase rerun` finds it from anywhere
        cfg = cfg.model_copy(update={"split_file": cfg.split_file.resolve()})
    test_share, val_share, split_file, dedup_threshold = (cfg.test_share, cfg.val_share, cfg.split_file,
                                                          cfg.dedup_threshold)
    t0 = time.perf_counter()
    path = ws.cases
    ws.require("extract", path)
    if not path.exists():
        raise CasebaseError(f"{path} not found: run `casebase extract --workspace {ws.root}` first.")
    all_cases = read_parquet(path, f"casebase extract --workspace {ws.root}")
    unlisted, vouched = 0, 0
    if split_file:
        # the file lists solved tickets: those the extractor called unresolved take its best reply
        listed = set(pd.read_csv(split_file, dtype=str).get("ticket_id", pd.Series(dtype=str)))
        cases, vouched = vouch_listed(ws, all_cases, listed)
        cases["split"], unlisted = assign_from_file(cases, Path(split_file), val_share)
        cases = cases[cases["split"].notna()]
    else:
        cases = all_cases[all_cases["resolved"]].copy()
    if not split_file:
        cases["split"] = assign_by_time(cases, test_share, val_share)

    test = cases[cases["split"] == "test"]
    others = cases[cases["split"] != "test"]
    dups = near_duplicates(dict(zip(others["ticket_id"], others["problem"])),
                           dict(zip(test["ticket_id"], test["problem"])), dedup_threshold)
    removed = others[others["ticket_id"].isin(dups)]
    cases = cases[~cases["ticket_id"].isin(dups)]

    counts = {"cases": len(all_cases), "resolved": int(all_cases["resolved"].sum()),
              "unresolved_excluded": int((~all_cases["resolved"]).sum()) - vouched,
              "unlisted_in_split_file": unlisted, "resolved_by_split_file": vouched,
              "near_duplicates_removed": {s: int((removed["split"] == s).sum()) for s in ("train", "val")}}
    outputs = {}
    ws.begin("split")  # each file renamed into place whole, the manifest last (with their hashes)
    for s in SPLITS:
        part = cases[cases["split"] == s].sort_values(["opened_at", "ticket_id"])
        out = ws.split(s)
        rows = part[[c for c in FIELDS if c in part.columns]].copy()
        rows["opened_at"] = rows["opened_at"].astype(str)
        rows["solution_message_ids"] = rows["solution_message_ids"].map(list)
        atomic_write(out, lambda tmp: rows.to_json(tmp, orient="records", lines=True, force_ascii=False))
        counts[s] = len(part)
        outputs[s] = out
    if counts["test"] and counts["train"]:
        counts["train_newest"] = str(cases.loc[cases["split"] == "train", "opened_at"].max())
        counts["test_oldest"] = str(cases.loc[cases["split"] == "test", "opened_at"].min())
    removed_csv = ws.split_removed
    removed_rows = pd.DataFrame([(k, sp, *dups[k]) for k, sp in zip(removed["ticket_id"], removed["split"])],
                                columns=["ticket_id", "split", "near_duplicate_of_test", "jaccard"])
    atomic_write(removed_csv, lambda tmp: removed_rows.to_csv(tmp, index=False))
    inputs = {"cases": path} | ({"split_file": Path(split_file)} if split_file else {})
    return write_manifest(
        ws, "split",
        config=cfg.saved(),
        inputs=inputs, counts=counts, timings={"total": time.perf_counter() - t0},
        extra={"outputs": {k: {"path": str(v), "sha256": file_sha256(v)} for k, v in outputs.items()}},
        files=[*outputs.values(), removed_csv],
    )
