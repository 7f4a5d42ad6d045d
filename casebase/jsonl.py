"""Reading JSON-lines input files, reporting every bad line at once."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from casebase.errors import CasebaseError


def read_jsonl(path: Path, check: Callable[[dict], str | None], expected: str, label: str | None = None) -> list[dict]:
    """The objects of a JSONL file. ``check`` returns a problem with one object, or None;
    every problem (up to ten shown) goes into one CasebaseError that says what a line needs."""
    label = label or str(path)
    if not Path(path).exists():
        raise CasebaseError(f"{label}: file not found.")
    rows, problems = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                problems.append(f"line {n}: not JSON ({err.msg})")
                continue
            problem = "not a JSON object" if not isinstance(obj, dict) else check(obj)
            if problem:
                problems.append(f"line {n}: {problem}")
                continue
            rows.append(obj | {"_line": n})
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise CasebaseError(f"{label}: {'; '.join(problems[:10])}{more}. {expected}")
    return rows
