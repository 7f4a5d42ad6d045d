"""Splitting: time order, shares, near-duplicate removal, external split files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from casebase.errors import CasebaseError
from casebase.split import near_duplicates, run


def write_cases(ws, n=40, dup_of_last=True):
    rows = []
    for i in range(n):
        rows.append({"ticket_id": f"c{i:02d}", "opened_at": pd.Timestamp("2024-01-01") + pd.Timedelta(days=i),
                     "subject": "s", "problem": f"Problem number {i} about stock valuation {i * 7} in warehouse {i}",
                     "resolved": i % 5 != 4, "solution_message_ids": [f"c{i:02d}.1"], "solution": f"fix {i}",
                     "category": "stock", "urgency": "3"})
    if dup_of_last:  # an old reopened twin of the newest case
        newest = rows[n - 2]  # c38: the newest resolved case
        rows.append({**newest, "ticket_id": "twin", "opened_at": pd.Timestamp("2023-06-01"),
                     "problem": newest["problem"] + " again", "resolved": True})
    pd.DataFrame(rows).to_parquet(ws.root / "cases.parquet")


def read(ws, split):
    return [json.loads(line) for line in (ws.root / f"{split}.jsonl").read_text().splitlines()]


def test_time_based_split_with_no_leak(ws):
    write_cases(ws)
    m = run(ws, test_share=0.2, val_share=0.1)
    train, val, test = read(ws, "train"), read(ws, "val"), read(ws, "test")
    resolved = 32 + 1
    assert len(train) + len(val) + len(test) == resolved - 1  # the twin is removed
    assert len(test) == round(resolved * 0.2) and len(val) == round(resolved * 0.1)
    assert max(r["opened_at"] for r in train) < min(r["opened_at"] for r in val) <= max(
        r["opened_at"] for r in val) < min(r["opened_at"] for r in test)
    assert m["counts"]["near_duplicates_removed"] == {"train": 1, "val": 0}
    assert m["counts"]["unresolved_excluded"] == 8
    assert set(train[0]) == {"ticket_id", "opened_at", "problem", "solution", "category", "urgency",
                             "solution_message_ids"}
    removed = pd.read_csv(ws.root / "split-removed.csv")
    assert removed["ticket_id"].tolist() == ["twin"] and removed["near_duplicate_of_test"].tolist() == ["c38"]


def test_split_file_is_honoured_and_val_carved_from_train(ws, tmp_path):
    write_cases(ws, dup_of_last=False)
    f = tmp_path / "split.csv"
    pd.DataFrame({"ticket_id": [f"c{i:02d}" for i in range(30)],
                  "split": ["test" if i < 5 else "train" for i in range(30)]}).to_csv(f, index=False)
    m = run(ws, split_file=f, val_share=0.1)
    test_ids = {r["ticket_id"] for r in read(ws, "test")}
    assert test_ids == {f"c{i:02d}" for i in range(5) if i % 5 != 4}
    assert len(read(ws, "val")) == 2 and len(read(ws, "train")) == 18
    assert m["counts"]["unlisted_in_split_file"] == 8


def test_listed_tickets_called_unresolved_take_their_best_reply(ws, tmp_path):
    write_cases(ws, dup_of_last=False)
    cases = pd.read_parquet(ws.root / "cases.parquet")
    cases["candidate_message_id"] = cases["ticket_id"] + ".1"
    cases.to_parquet(ws.root / "cases.parquet")
    pd.DataFrame({"message_id": ["c04.1"], "body": ["Rebuild the stock valuation with report X. Hope this helps."]}
                 ).to_parquet(ws.messages)
    f = tmp_path / "split.csv"
    pd.DataFrame({"ticket_id": ["c04", "c05"], "split": ["test", "train"]}).to_csv(f, index=False)
    m = run(ws, split_file=f, val_share=0)
    [case] = read(ws, "test")
    assert case["ticket_id"] == "c04" and case["solution"] == "Rebuild the stock valuation with report X."
    assert case["solution_message_ids"] == ["c04.1"]
    assert m["counts"]["resolved_by_split_file"] == 1 and m["counts"]["unresolved_excluded"] == 7


def test_bad_split_file(ws, tmp_path):
    write_cases(ws)
    f = tmp_path / "split.csv"
    f.write_text("ticket_id,part\nc01,train\n")
    with pytest.raises(CasebaseError, match="needs columns ticket_id and split"):
        run(ws, split_file=f)
    f.write_text("ticket_id,split\nc01,holdout\n")
    with pytest.raises(CasebaseError, match=r"split values \['holdout'\]"):
        run(ws, split_file=f)


def test_missing_cases_names_the_command(ws):
    with pytest.raises(CasebaseError, match="casebase extract"):
        run(ws)


def test_near_duplicates_threshold():
    found = near_duplicates({"a": "the bank feed stopped importing transactions today",
                             "b": "payroll RTI submission rejected by HMRC"},
                            {"t": "the bank feed stopped importing transactions this morning"}, 0.5)
    assert list(found) == ["a"] and found["a"][0] == "t"
