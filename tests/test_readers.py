"""Reading raw tables: formats, encodings, delimiters, and every kind of bad file."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from casebase.errors import CasebaseError
from casebase.ingest.readers import read_table

ROWS = [{"ticket_id": "T-001", "subject": "Café VAT return", "opened_at": "2024-03-01"},
        {"ticket_id": "T-002", "subject": "Bank feed, stuck", "opened_at": "2024-03-02"}]


@pytest.mark.parametrize("suffix", ["csv", "tsv", "xlsx", "json", "jsonl", "parquet"])
def test_reads_every_format_as_strings(tmp_path, suffix):
    df = pd.DataFrame(ROWS)
    path = tmp_path / f"t.{suffix}"
    if suffix == "csv":
        df.to_csv(path, index=False)
    elif suffix == "tsv":
        df.to_csv(path, index=False, sep="\t")
    elif suffix == "xlsx":
        df.to_excel(path, index=False)
    elif suffix == "json":
        path.write_text(json.dumps(ROWS))
    elif suffix == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in ROWS))
    else:
        df.to_parquet(path)
    got, warnings = read_table(path)
    assert list(got.columns) == ["ticket_id", "subject", "opened_at"]
    assert got["ticket_id"].tolist() == ["T-001", "T-002"]
    assert got["subject"].tolist() == ["Café VAT return", "Bank feed, stuck"]
    assert warnings == []


@pytest.mark.parametrize("sep", [";", "|", "\t", ","])
def test_delimiter_is_sniffed(tmp_path, sep):
    path = tmp_path / "t.csv"
    pd.DataFrame(ROWS).to_csv(path, index=False, sep=sep)
    got, _ = read_table(path)
    assert got.shape == (2, 3)


def test_ids_keep_leading_zeros_and_excel_numbers_are_not_floats(tmp_path):
    path = tmp_path / "t.xlsx"
    pd.DataFrame({"id": ["007", "010"], "n": [3, 5], "when": pd.to_datetime(["2024-01-02 10:00", None])}).to_excel(
        path, index=False)
    got, _ = read_table(path)
    assert got["id"].tolist() == ["007", "010"]
    assert got["n"].tolist() == ["3", "5"]
    assert got["when"].tolist()[0].startswith("2024-01-02T10:00") and got["when"].tolist()[1] is None


def test_utf8_bom_is_stripped(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("\ufeffticket_id,subject\n1,Größe\n".encode("utf-8"))
    got, warnings = read_table(path)
    assert list(got.columns) == ["ticket_id", "subject"] and got["subject"][0] == "Größe"
    assert warnings == []


def test_cp1252_falls_back_with_a_warning(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("ticket_id,subject\n1,Invoice £1,234 – café\n".replace(",234", "234").encode("cp1252"))
    got, warnings = read_table(path)
    assert got["subject"][0] == "Invoice £1234 – café"
    assert len(warnings) == 1 and "cp1252" in warnings[0] and "t.csv" in warnings[0]


def test_undecodable_file_is_a_clear_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"ticket_id,subject\n1,bad \x81\x8d bytes\n")  # undefined in cp1252 too
    with pytest.raises(CasebaseError, match="not UTF-8.*Re-export the file as UTF-8"):
        read_table(path)


def test_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"")
    with pytest.raises(CasebaseError, match="the file is empty"):
        read_table(path)


def test_whitespace_only_file_is_a_clear_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("\n\n   \n")
    with pytest.raises(CasebaseError, match="no content"):
        read_table(path)


def test_broken_xlsx_is_a_clear_error(tmp_path):
    path = tmp_path / "t.xlsx"
    path.write_text("ticket_id,subject\n1,not really excel\n")
    with pytest.raises(CasebaseError, match="not a valid xlsx file.*export as csv"):
        read_table(path)


def test_truncated_xlsx_is_a_clear_error(tmp_path):
    good = tmp_path / "good.xlsx"
    pd.DataFrame(ROWS).to_excel(good, index=False)
    path = tmp_path / "t.xlsx"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CasebaseError, match="t.xlsx"):
        read_table(path)


def test_one_megabyte_cell_is_read_whole(tmp_path):
    big = "ORA-00942 " + "x" * 1_048_576
    path = tmp_path / "t.csv"
    pd.DataFrame({"ticket_id": ["1", "2"], "body": [big, "small"]}).to_csv(path, index=False)
    got, _ = read_table(path)
    assert got["body"][0] == big and got["body"][1] == "small"


def test_unknown_extension_lists_formats(tmp_path):
    path = tmp_path / "t.docx"
    path.write_text("x")
    with pytest.raises(CasebaseError, match=r"unknown file type '.docx'.*\.csv"):
        read_table(path)


def test_missing_file(tmp_path):
    with pytest.raises(CasebaseError, match="no such file"):
        read_table(tmp_path / "nope.csv")


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(CasebaseError, match="invalid JSON at line 1"):
        read_table(path)


def test_malformed_csv_is_a_clear_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('ticket_id,subject\n1,"unterminated\n2,x,y,z,w\n' + "3,ok\n" * 3)
    with pytest.raises(CasebaseError, match="cannot parse as delimited text"):
        read_table(path)
