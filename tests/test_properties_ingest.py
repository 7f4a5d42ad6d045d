"""Properties of the readers and ingest on generated tables (hypothesis): every input row ends in the output or in
quarantine, or the run stops with a CasebaseError, never another exception. The strategies and the fast/robust
pair come from tests/test_properties.py (cleaning and redaction).

    .venv/bin/python -m pytest -q tests/test_properties_ingest.py             # the fast subset
    .venv/bin/python -m pytest -q -m robust tests/test_properties_ingest.py   # the full runs (make test-robust, CI)
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import strategies as st

from casebase.errors import CasebaseError
from casebase.ingest.redact import RedactConfig
from test_properties import ANY_CHAR, CONTENT, NOISY_TEXT, PII_TEXT, fast_and_robust

# --- readers and ingest -------------------------------------------------------------------------

# Problems of readers.py and ingest/run.py found by these properties (issue 14), fixed: each has its test
# below. Tracebacks the properties still step around: (exception type, a regex its message matches, the input).
KNOWN_INGEST_TRACEBACKS: list[tuple[type[BaseException], str, str]] = []


def _known_traceback(err: BaseException) -> bool:
    return any(isinstance(err, t) and re.search(msg, str(err)) for t, msg, _ in KNOWN_INGEST_TRACEBACKS)


def _run_ingest(tmp: Path, tickets: Path, messages: Path):
    from casebase.ingest.run import run
    from casebase.workspace import Workspace

    ws = Workspace.at(tmp / "ws")
    return ws, run(ws, tickets, messages, redact=RedactConfig(ner=False))


def test_known_lone_surrogate_in_a_json_cell(tmp_path):
    (tmp_path / "t.jsonl").write_text('{"ticket_id": "t1", "opened_at": "2024-03-01", "category": "\\ud800"}\n')
    (tmp_path / "m.csv").write_text("ticket_id,body,role\nt1,hello,customer\n")
    _run_ingest(tmp_path, tmp_path / "t.jsonl", tmp_path / "m.csv")


@pytest.mark.parametrize("raw", [b"\r,", b"\xfe\xff\x00"], ids=["carriage-return-and-comma", "utf16-bom-no-utf16"])
def test_known_odd_bytes_read_or_give_a_clear_error(tmp_path, raw):
    # a pandas EmptyDataError and a UnicodeDecodeError (a UTF-16 byte order mark on bytes that are no UTF-16)
    from casebase.ingest.readers import read_table

    (tmp_path / "t.csv").write_bytes(raw)
    try:
        read_table(tmp_path / "t.csv")
    except CasebaseError:
        pass


def test_known_carriage_return_in_a_quarantined_preview(tmp_path):
    (tmp_path / "t.csv").write_text("ticket_id,opened_at\nt1,2024-03-01\n")
    (tmp_path / "m.jsonl").write_text('{"ticket_id": "t1", "body": "ok", "role": "customer"}\n'
                                      '{"ticket_id": "t9", "body": "a\\rb", "role": "customer"}\n')
    ws, manifest = _run_ingest(tmp_path, tmp_path / "t.csv", tmp_path / "m.jsonl")
    assert manifest["counts"]["messages"]["quarantined"] == 1
    assert len(pd.read_csv(ws.quarantine)) == 1
    with open(ws.quarantine, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 2 and rows[1][-1] == "a\rb"


def test_known_missing_value_of_a_nullable_parquet_column(tmp_path):
    from casebase.ingest.readers import read_table

    pd.DataFrame({"ticket_id": pd.array(["t1", None], dtype="string"),
                  "n": pd.array([1, None], dtype="Int64")}).to_parquet(tmp_path / "t.parquet")
    assert read_table(tmp_path / "t.parquet")[0].to_dict("list") == {"ticket_id": ["t1", None], "n": ["1", None]}


def test_known_column_names_equal_after_the_strip(tmp_path):
    # one column's values are lost, the other reads its label: a=["a"], b=["3"]
    from casebase.ingest.readers import read_table

    (tmp_path / "t.csv").write_text("a, a,b\n1,2,3\n")
    try:
        df, _ = read_table(tmp_path / "t.csv")
    except CasebaseError:
        return
    assert sorted(v for col in df.columns for v in df[col]) == ["1", "2", "3"]


def test_column_names_equal_after_the_strip_are_refused(tmp_path):
    from casebase.ingest.readers import read_table

    (tmp_path / "t.csv").write_text("a, a,b\n1,2,3\n")
    with pytest.raises(CasebaseError, match="'a' appear more than once"):
        read_table(tmp_path / "t.csv")
    (tmp_path / "t.jsonl").write_text('{"id": 1, "id ": 2}\n')
    with pytest.raises(CasebaseError, match="'id' appear more than once"):
        read_table(tmp_path / "t.jsonl")


def test_lone_surrogate_in_a_json_cell_reads_as_a_replacement_character(tmp_path):
    from casebase.ingest.readers import read_table

    (tmp_path / "t.jsonl").write_text('{"a": "x\\ud800", "b": "\\ud83d\\ude00", "\\udc00": 1}\n')
    df, warnings = read_table(tmp_path / "t.jsonl")
    assert df.to_dict("records") == [{"a": "x\ufffd", "b": "\U0001f600", "\ufffd": "1"}]
    assert any("1 cells held invalid characters" in w for w in warnings)


def test_messages_without_their_mapped_role_column_get_inferred_roles(tmp_path):
    # found by test_ingest_balances: the canonical mapping names role, the file has none; roles were all
    # "<empty>" and the run failed, while a mapping without role infers them (docs/mapping.md)
    (tmp_path / "t.csv").write_text("ticket_id,opened_at\nt1,2024-03-01\n")
    (tmp_path / "m.csv").write_text("ticket_id,author,body\nt1,Ana,help please\nt1,Tom,try a restart\n")
    ws, manifest = _run_ingest(tmp_path, tmp_path / "t.csv", tmp_path / "m.csv")
    assert manifest["mapping"]["name"] == "canonical" and manifest["config"]["mapping"] == "auto"
    assert list(pd.read_parquet(ws.messages).sort_values("position")["role"]) == ["customer", "responder"]


def test_a_csv_row_of_spaces_is_counted_and_quarantined(tmp_path):
    # found by test_ingest_balances: pandas skipped a line of spaces (a one-column row with an empty cell),
    # so it was in no output and in no quarantine; now every line after the header is a row
    from casebase.ingest.readers import read_table

    (tmp_path / "one.csv").write_text("a\n1\n   \n2\n")
    assert read_table(tmp_path / "one.csv")[0].to_dict("list") == {"a": ["1", None, "2"]}
    (tmp_path / "t.csv").write_text("\n  \nticket_id,opened_at\nt1,2024-03-01\n   \n\nt2,2024-03-02\n")
    (tmp_path / "m.csv").write_text("ticket_id,body,role\nt1,hello,customer\n , \n")
    ws, manifest = _run_ingest(tmp_path, tmp_path / "t.csv", tmp_path / "m.csv")
    counts = manifest["counts"]
    assert counts["tickets"] | {"balanced": True} == {"in": 4, "out": 2, "quarantined": 2, "balanced": True}
    assert counts["messages"]["in"] == 2 and counts["messages"]["quarantined"] == 1
    q = pd.read_csv(ws.quarantine)
    assert list(q["reason"]) == ["empty row (no value in any column)"] * 3
    assert list(q["row"]) == [3, 4, 3]


def _plain(value):
    """A cell as a UTF-8 file can hold it (a lone surrogate cannot be written to csv or parquet)."""
    if value is None:
        return None
    return str(value).encode("utf-8", "replace").decode("utf-8")


def _fffd(text: str) -> str:
    return re.sub("[\ud800-\udfff]", "\ufffd", text)


def write_table(path: Path, fmt: str, names: list[str], rows: list[dict]) -> Path:
    path = path.with_suffix("." + fmt)
    records = [{k: v for k, v in r.items() if v is not None} for r in rows]
    if fmt == "jsonl":  # JSON keeps types (positions as numbers) and escapes lone surrogates
        path.write_text("".join(json.dumps(r) + "\n" for r in records) or "\n", encoding="utf-8")
    elif fmt == "json":  # an array, or an object holding one
        path.write_text(json.dumps(records if len(records) % 2 else {"records": records}), encoding="utf-8")
    else:
        frame = pd.DataFrame([{c: _plain(r.get(c)) for c in names} for r in rows], columns=names, dtype=object)
        if fmt == "csv":  # the csv module leaves a bare "\r" unquoted, and readers end the row there
            cr = any("\r" in str(v) for r in rows for v in r.values())
            frame.to_csv(path, index=False, quoting=csv.QUOTE_ALL if cr else csv.QUOTE_MINIMAL)
        else:
            frame.astype("string").to_parquet(path, index=False)  # nullable: missing values are pd.NA
    return path


# column names: no delimiter, quote or line break (a csv header sniffed on its own is ambiguous), none
# empty or equal to another after the strip (a CasebaseError, see the test above)
COLUMN_NAME = st.one_of(st.sampled_from(["ticket_id", "body", "Subject", "a b", " padded ", "ÄÖÜ", "1", "#", "x.1",
                                         "null", "NaN", "Unnamed: 0"]),
                        st.text(st.characters(exclude_characters=",;\t|\"'\r\n", exclude_categories=["Cs", "Cc"]),
                                min_size=1, max_size=10)).filter(str.strip)
CELL_VALUE = st.one_of(st.none(), st.text(ANY_CHAR, max_size=20), st.integers(-5, 10**12), NOISY_TEXT,
                       st.sampled_from(["nan", "NULL", "None", " ", "", "0001", "1.0", "TRUE", "2024-03-01", "=1+1"]))


@st.composite
def raw_tables(draw) -> tuple[list[str], list[dict]]:
    names = draw(st.lists(COLUMN_NAME, min_size=1, max_size=5, unique_by=str.strip))
    return names, [{n: draw(CELL_VALUE) for n in names} for _ in range(draw(st.integers(1, 4)))]


def _read_table_round_trip(table, fmt):
    """A table written as csv, jsonl, json or parquet reads back as it was: the same columns (names
    stripped; JSON orders them as its records first name them), every cell the text it held, a blank or
    absent one None; or, when no column is left, a CasebaseError."""
    from casebase.ingest.readers import read_table

    names, rows = table
    # JSON: what its escapes give back (surrogate pairs join), lone surrogates as U+FFFD
    as_text = (lambda v: _fffd(str(json.loads(json.dumps(v))))) if fmt in ("json", "jsonl") else _plain
    columns = [n.strip() for n in names if fmt in ("csv", "parquet") or any(r[n] is not None for r in rows)]
    want = [{n.strip(): as_text(r[n]) if r[n] is not None and str(r[n]).strip() else None
             for n in names if n.strip() in columns} for r in rows]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_table(Path(tmp) / "t", fmt, names, rows)
        try:
            df, _ = read_table(path)
        except CasebaseError:
            assert not columns, "a CasebaseError for a table with columns"
            return
    got = list(df.columns) if fmt in ("csv", "parquet") else sorted(df.columns, key=columns.index)
    assert got == columns and df.to_dict("records") == want, (df.to_dict("records"), want)


test_read_table_round_trip, test_read_table_round_trip_robust = fast_and_robust(
    raw_tables(), st.sampled_from(["csv", "jsonl", "json", "parquet"]), fast=40, robust=600)(_read_table_round_trip)


def _json_containers(children):
    return st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=4), children, max_size=4))


RAW_BYTES = st.one_of(
    st.binary(max_size=200),
    st.tuples(st.sampled_from([b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf", b"PK\x03\x04", b"PAR1"]),
              st.binary(max_size=100)).map(b"".join),  # byte order marks, zip and parquet magic
    st.tuples(st.text(ANY_CHAR, max_size=200), st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    .map(lambda t: t[0].encode(t[1], "surrogatepass" if t[1].startswith("utf") else "replace")),
    st.lists(st.lists(st.one_of(st.text(max_size=8), st.sampled_from(['"', '""', ",", ";", "\t", "|", "\n", "\r",
                                                                       'a"b', "\ufeff"])), max_size=5), max_size=6)
    .map(lambda rows: "\n".join(",".join(r) for r in rows).encode("utf-8", "surrogatepass")),
    st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6)),
                 _json_containers, max_leaves=12).map(lambda v: json.dumps(v).encode()),
)


def _read_table_is_total(data, suffix):
    """Any bytes under any table suffix: a table, or a CasebaseError. (What its cells hold is the round
    trip's business: here the header is anything, names equal after the strip too, see the test above.)"""
    from casebase.ingest.readers import read_table

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"t{suffix}"
        path.write_bytes(data)
        try:
            df, warnings = read_table(path)
        except CasebaseError:
            return
        except Exception as err:
            if _known_traceback(err):
                return
            raise
        assert isinstance(df, pd.DataFrame) and all(isinstance(w, str) for w in warnings)
        assert all(isinstance(c, str) for c in df.columns)


test_read_table_is_total, test_read_table_is_total_robust = fast_and_robust(
    RAW_BYTES, st.sampled_from([".csv", ".tsv", ".txt", ".json", ".jsonl", ".ndjson", ".parquet", ".xlsx"]),
    fast=60, robust=1500)(_read_table_is_total)


# ingest's tables: (usual values, odd ones) per column; a cell takes an odd value one time in seven, none one
# time in nine
ID = (st.sampled_from(["t1", "t2", "T-0003"]),
      st.one_of(st.sampled_from([" t1", "t1 ", "T1", "t 1", "t2\t", "", " ", "1.0", "nan"]), st.text(max_size=6)))
DATE = (st.sampled_from(["2024-03-01", "2024-03-01T09:00:00", "2024-03-01 09:00", "2024-03-01T09:00:00+02:00",
                         "2024-03-01T09:00:00Z", "01/03/2024", "03/01/2024 5:00 PM", "1 March 2024", "Mar 1, 2024",
                         "12.03.2024", "2024-03-01T09:00:00.123456"]),
        st.one_of(st.sampled_from(["20240301", "1709283600", "31/02/2024", "2024-13-01", "yesterday", "0000-00-00",
                                   "9999-12-31", "1677-09-21", "2262-04-12", "1900-01-01", "", " ", "NaT", "None"]),
                  st.text(max_size=10)))
CELL = (st.one_of(st.text(min_size=1, max_size=30), CONTENT.filter(str.strip), PII_TEXT.filter(str.strip)),
        st.one_of(NOISY_TEXT, st.sampled_from(["nan", "NULL", "None", "N/A", "-", "0", "1e5", '"', "\n", ",", ";",
                                               "\t", "\r\n", "|", "'", "#", "=1+1", "[/quote]"])))
TICKET_COLUMNS = {"ticket_id": ID, "subject": CELL, "opened_at": DATE, "closed_at": DATE, "category": CELL,
                  "urgency": CELL, "tags": CELL}
MESSAGE_COLUMNS = {"ticket_id": ID, "message_id": (st.from_regex(r"m[0-9]{1,2}", fullmatch=True), ID[1]),
                   "position": (st.integers(0, 5), st.one_of(st.integers(-2, 10**6),
                                                             st.sampled_from(["1.5", "x", "", "2", " 3", "1e3"]))),
                   "sent_at": DATE, "author": (st.sampled_from(["Sarah Smith", "Tom Baker", "rhaskins2", "Ana"]),
                                               CELL[1]),
                   # one odd role fails the whole run (by design): rarer
                   "role": (st.sampled_from(["customer", "responder"]), st.sampled_from(["agent", "", "Customer"]),
                            ["usual"] * 60 + ["odd", None]),
                   "body": CELL}


@st.composite
def tables(draw, columns: dict) -> tuple[list[str], list[dict]]:
    """A small table: the columns in a random order, an optional one left out now and then, values
    missing (None, or no key at all in JSON), ids with spaces and duplicates, dates in odd formats."""
    names = draw(st.permutations(list(columns)))
    names = [c for c in names if c in ("ticket_id", "opened_at", "body", "role") or draw(st.integers(0, 9))]
    rows = []
    for _ in range(draw(st.sampled_from([1, 1, 2, 2, 3, 4, 5, 0]))):
        row = {}
        for c in names:
            usual, odd, *weights = columns[c]
            kind = draw(st.sampled_from(weights[0] if weights else ["usual"] * 20 + ["odd"] * 4 + [None] * 3))
            row[c] = draw(usual) if kind == "usual" else draw(odd) if kind == "odd" else None
        rows.append(row)
    return names, rows


def _ingest_balances(tickets, messages, formats):
    """A small export in any shape: ``run`` writes an ingest.json whose counts balance (every row in
    the output or in quarantine) and match the files, or it raises a CasebaseError; nothing else."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = write_table(tmp / "tickets", formats[0], *tickets)
        m = write_table(tmp / "messages", formats[1], *messages)
        try:
            ws, _ = _run_ingest(tmp, t, m)
        except CasebaseError as err:
            assert str(err).strip()
            return
        except Exception as err:
            if _known_traceback(err):
                return
            raise
        manifest = json.loads(ws.manifest_path("ingest").read_text())
        counts = manifest["counts"]
        out = {"tickets": len(pd.read_parquet(ws.tickets)), "messages": len(pd.read_parquet(ws.messages))}
        quarantined = pd.read_csv(ws.quarantine)
        assert counts["tickets"]["in"] == len(tickets[1])
        assert counts["messages"]["in"] == len(messages[1])
        for table in ("tickets", "messages", "messages_from_ticket_body"):
            c = counts[table]
            assert c["in"] == c["out"] + c["quarantined"], (table, c)
        assert counts["tickets"]["out"] == out["tickets"]
        assert counts["messages_total_out"] == out["messages"]
        assert sum(counts[t]["quarantined"] for t in ("tickets", "messages", "messages_from_ticket_body")) \
            == len(quarantined)


FORMATS = st.tuples(st.sampled_from(["csv", "jsonl", "json", "parquet"]),
                    st.sampled_from(["csv", "jsonl", "json", "parquet"]))

test_ingest_balances, test_ingest_balances_robust = fast_and_robust(
    tables(TICKET_COLUMNS), tables(MESSAGE_COLUMNS), FORMATS, fast=8, robust=150)(_ingest_balances)
