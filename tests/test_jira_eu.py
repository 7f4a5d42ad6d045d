"""The Jira-like European export (tests/data/jira_eu): every row ingested, no planted personal
data left in the output, every technical string intact.

The export is synthetic and written for casebase; ``planted.json`` lists each personal-data
string planted in it (type, language, issues) and the technical strings that must survive.
A planted string leaks when any of its distinctive tokens (split on white space and
punctuation, at least 2 characters, not a word that the rest of the export also uses) is
left in a text column of tickets.parquet or messages.parquet, or when the whole string is.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).parent / "data" / "jira_eu"
T, C, M = DATA / "T.csv", DATA / "C.csv", DATA / "M.toml"
PLANTED = json.loads((DATA / "planted.json").read_text(encoding="utf-8"))

TOKEN = re.compile(r"[^\W_]+")  # runs of letters/digits: split on white space, punctuation, "_"
# The planted e-mail addresses all use the reserved domains example.com/.org/.net: these tokens say
# nothing about which address leaked (a whole surviving address is still caught).
SHARED_TOKENS = {"example", "com", "org", "net"}
ID_COLUMNS = {"ticket_id", "message_id"}  # "ERPSD-1017" is no leak of the postcode 1017
RAW_TEXT_COLUMNS = {"T.csv": ["Summary", "Description", "Status", "Priority", "Resolution", "Component/s",
                              "Issue Type"],
                    "C.csv": ["Comment body"]}


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def raw_texts() -> list[str]:
    """The export's free-text cells (not the name columns Reporter and Comment author)."""
    out = []
    for name, cols in RAW_TEXT_COLUMNS.items():
        df = pd.read_csv(DATA / name, dtype=str, keep_default_na=False)
        for col in cols:
            out.extend(df[col].tolist())
    return out


def template_words() -> set[str]:
    """Lower-cased tokens of the export with every planted string cut out: the words of the
    template text, which cannot tell whether a planted string leaked."""
    values = sorted({p["value"] for p in PLANTED["planted"]}, key=len, reverse=True)
    words: set[str] = set()
    for text in raw_texts():
        for v in values:
            text = re.sub(rf"(?<![^\W_]){re.escape(v)}(?![^\W_])", " ", text)
        words.update(t.lower() for t in tokens(text))
    return words


def distinctive(value: str, template: set[str]) -> list[str]:
    out = []
    for tok in tokens(value):
        low = tok.lower()
        if len(tok) >= 2 and low not in template and low not in SHARED_TOKENS and low not in out:
            out.append(low)
    return out


def whole_value_pattern(value: str) -> re.Pattern:
    """The value's tokens in order, separators (1 to 3 characters) between them."""
    toks = [re.escape(t) for t in tokens(value)]
    return re.compile(r"(?<![^\W_])" + r"[\W_]{1,3}".join(toks) + r"(?![^\W_])", re.I)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    from casebase.ingest import run
    from casebase.workspace import Workspace

    ws = Workspace.at(tmp_path_factory.mktemp("jira-eu") / "ws")
    manifest = run(ws, T, C, mapping=str(M))
    tickets, messages = pd.read_parquet(ws.tickets), pd.read_parquet(ws.messages)
    quarantine = pd.read_csv(ws.quarantine)
    return manifest, tickets, messages, quarantine


def output_texts(tickets: pd.DataFrame, messages: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(issue, location, text) for every text cell of the output."""
    out = []
    for name, df in (("tickets", tickets), ("messages", messages)):
        key = "message_id" if name == "messages" else "ticket_id"
        for col in df.columns:
            if col in ID_COLUMNS or not (pd.api.types.is_object_dtype(df[col])
                                         or pd.api.types.is_string_dtype(df[col])):
                continue
            for tid, rid, v in zip(df["ticket_id"], df[key], df[col]):
                if isinstance(v, str) and v:
                    out.append((tid, f"{name}.parquet {rid} {col}", v))
    return out


def snippet(text: str, start: int, end: int, width: int = 40) -> str:
    s = text[max(0, start - width): end + width].replace("\n", "⏎")
    return ("…" if start > width else "") + s + ("…" if end + width < len(text) else "")


def test_planted_strings_are_in_the_export():
    raw = "\n".join(raw_texts())
    names = set(pd.read_csv(T, dtype=str)["Reporter"]) | set(pd.read_csv(C, dtype=str)["Comment author"])
    missing = [p["value"] for p in PLANTED["planted"] if p["value"] not in raw and p["value"] not in names]
    assert not missing, missing
    missing = [t["value"] for t in PLANTED["technical"] if t["value"] not in raw]
    assert not missing, missing


def test_every_row_is_accounted_for(ingested):
    manifest, tickets, messages, quarantine = ingested
    counts = manifest["counts"]
    for table in ("tickets", "messages", "messages_from_ticket_body"):
        assert counts[table]["balanced"], counts[table]
    assert counts["tickets"] == {"in": 40, "out": 40, "quarantined": 0, "balanced": True}
    assert counts["messages"] == {"in": 141, "out": 141, "quarantined": 0, "balanced": True}
    assert counts["messages_from_ticket_body"]["out"] == 40
    assert quarantine.empty, quarantine.to_string()
    # Jira dates ("08/Jan/24 9:12 AM") parsed with the mapping's dayfirst
    first = tickets.set_index("ticket_id").loc["ERPSD-1001"]
    assert first["opened_at"] == pd.Timestamp("2024-01-08 09:12")
    assert first["closed_at"] == pd.Timestamp("2024-01-10 15:40")
    assert tickets["opened_at"].notna().all()
    assert tickets["closed_at"].isna().sum() == 3  # the three unresolved issues
    assert messages["sent_at"].notna().all()
    thread = messages[messages["ticket_id"] == "ERPSD-1001"].sort_values("position")
    assert list(thread["role"]) == ["customer", "responder", "customer", "responder"]
    assert list(thread["sent_at"]) == [pd.Timestamp(s) for s in ("2024-01-08 09:12", "2024-01-08 11:03",
                                                                 "2024-01-09 16:27", "2024-01-10 15:38")]


def find_leaks(texts: list[tuple[str, str, str]]) -> list[tuple[dict, str, str, str]]:
    """(planted, surviving text, where, snippet) for every planted string found in ``texts``."""
    template = template_words()
    text_tokens = [{t.lower() for t in tokens(text)} for _, _, text in texts]
    checks = []
    for p in PLANTED["planted"]:
        check = distinctive(p["value"], template)
        # the whole string, unless it is one plain word of the template
        whole = whole_value_pattern(p["value"]) if check or len(tokens(p["value"])) > 1 else None
        checks.append((p, check, whole))
    # where a whole planted string survives, what lies inside it is its leak, not other strings'
    # ("c.rousseau" is the login leaking, not the e-mail camille.rousseau@example.org)
    spans = [[(p["value"], m.start(), m.end()) for p, _, whole in checks if whole for m in whole.finditer(text)]
             for _, _, text in texts]
    leaks = []
    for p, check, whole in checks:
        for (issue, where, text), toks, taken in zip(texts, text_tokens, spans):
            def inside_other(m: re.Match, longer: bool = False) -> bool:
                return any(v != p["value"] and (not longer or len(v) > len(p["value"]))
                           and a <= m.start() and m.end() <= b for v, a, b in taken)

            m = next((m for m in whole.finditer(text) if not inside_other(m, longer=True)), None) if whole else None
            if m:
                leaks.append((p, m.group(0), where, snippet(text, m.start(), m.end())))
                continue
            for tok in check:
                if tok not in toks:
                    continue
                m = next((m for m in re.finditer(rf"(?<![^\W_]){re.escape(tok)}(?![^\W_])", text, re.I)
                          if not inside_other(m)), None)
                if m:
                    leaks.append((p, m.group(0), where, snippet(text, m.start(), m.end())))
    return leaks


def test_the_leak_check_sees_every_planted_string():
    """Run on the raw export, the check finds every planted string: none is vacuous."""
    texts = []
    for name, cols in RAW_TEXT_COLUMNS.items():
        df = pd.read_csv(DATA / name, dtype=str, keep_default_na=False)
        for col in cols + (["Reporter"] if name == "T.csv" else ["Comment author"]):
            texts.extend((k, f"{name} {col}", v) for k, v in zip(df["Issue key"], df[col]))
    found = {p["value"] for p, *_ in find_leaks(texts)}
    assert [p["value"] for p in PLANTED["planted"] if p["value"] not in found] == []


# The floor the issue sets for the labelled set (0.98 overall); every leak is listed when it fails.
MIN_RECALL = 0.98


def test_no_planted_personal_data_survives(ingested):
    _, tickets, messages, _ = ingested
    leaks = find_leaks(output_texts(tickets, messages))
    leaked = {p["value"] for p, *_ in leaks}
    recall = 1 - len(leaked) / len({p["value"] for p in PLANTED["planted"]})
    if recall < MIN_RECALL or any(p["type"] != "PERSON" for p, *_ in leaks):
        by_type = Counter(p["type"] for p, *_ in leaks)
        values = defaultdict(set)
        for p, *_ in leaks:
            values[p["type"]].add(p["value"])
        lines = [f"recall {recall:.3f}; {len(leaks)} leaks of {sum(map(len, values.values()))} planted strings "
                 f"(of {len(PLANTED['planted'])}): "
                 + ", ".join(f"{k} {by_type[k]} ({len(values[k])} strings)" for k in sorted(by_type))]
        for p, tok, where, snip in sorted(leaks, key=lambda x: (x[0]["type"], x[0]["value"], x[2])):
            lines.append(f"  {p['type']:<11} [{p['lang']}] {p['value']!r}: {tok!r} survives in {where}: {snip}")
        pytest.fail("\n".join(lines), pytrace=False)


def test_technical_strings_survive(ingested):
    _, tickets, messages, _ = ingested
    by_issue = defaultdict(list)
    for issue, where, text in output_texts(tickets, messages):
        by_issue[issue].append(text)
    raw = {}
    for name, cols in RAW_TEXT_COLUMNS.items():
        df = pd.read_csv(DATA / name, dtype=str, keep_default_na=False)
        for _, row in df.iterrows():
            raw.setdefault(row["Issue key"], []).extend(row[c] for c in cols)
    damaged = []
    for t in PLANTED["technical"]:
        for issue in t["issues"]:
            if any(t["value"] in text for text in by_issue[issue]):
                continue
            # show what stands in its place: the output after the last word that precedes it in the source
            src = next(s for s in raw[issue] if t["value"] in s)
            before = [w for w in re.findall(r"[^\W\d_]{4,}", src[: src.index(t["value"])])][-1:]
            shown = "(not found)"
            for text in by_issue[issue]:
                if before and before[0] in text:
                    i = text.index(before[0])
                    shown = text[i: i + len(before[0]) + len(t["value"]) + 30].replace("\n", "⏎")
                    break
            damaged.append(f"  {t['value']!r} in {issue}: {shown}")
    assert not damaged, f"{len(damaged)} technical strings damaged:\n" + "\n".join(damaged)
