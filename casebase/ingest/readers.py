"""Read a raw export table (csv/tsv/xlsx/json/jsonl/parquet) into a DataFrame of strings.

Every cell comes back as a string (or missing) so nothing is silently converted:
ids keep leading zeros, dates are parsed later with the mapping's rules.

    from casebase.ingest.readers import read_table
    df, warnings = read_table("tickets.csv")
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from casebase.errors import CasebaseError

FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
           ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
DELIMITERS = ",;\t|"
LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # only JSON's "\\ud800" escapes put them in a str
LEADING_BLANK_LINES = re.compile(r"(?:[ \t]*(?:\r\n|\r|\n))+")


def detect_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CasebaseError(
            f"{path}: unknown file type {path.suffix!r}; casebase reads "
            f"{', '.join(sorted(FORMATS))}. Export the table in one of these formats."
        )
    return fmt


def decode(raw: bytes, path: Path, warnings: list[str]) -> str:
    """Bytes to text: UTF-8 (with or without BOM), UTF-16 with a BOM, else cp1252 with a warning."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as err:
            raise CasebaseError(
                f"{path}: starts with a UTF-16 byte order mark but is not valid UTF-16 ({err.reason} at byte "
                f"{err.start}); the file is damaged or cut short. Re-export it, or open it and save it as UTF-8."
            ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        first_bad = err.start
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError as err:
        raise CasebaseError(
            f"{path}: not UTF-8 (first bad byte at offset {first_bad}) and not Windows-1252 either "
            f"(byte 0x{raw[err.start]:02x} at offset {err.start}). Re-export the file as UTF-8."
        ) from None
    warnings.append(f"{path.name}: not valid UTF-8 (first bad byte at offset {first_bad}); read as cp1252")
    return text


def sniff_delimiter(text: str, path: Path) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    head = text[:65536]
    try:
        return csv.Sniffer().sniff(head, delimiters=DELIMITERS).delimiter
    except csv.Error:
        # The sniffer gives up on files with long quoted cells; count on the header line instead.
        header = head.splitlines()[0] if head else ""
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def read_csv_text(text: str, path: Path) -> pd.DataFrame:
    # Blank lines before the header are no rows; after it every line is one (a cell of spaces alone on its
    # line is a row with an empty value), so ingest counts it and quarantines a row with no value at all.
    blank = LEADING_BLANK_LINES.match(text)
    if blank:
        text = text[blank.end():]
    delimiter = sniff_delimiter(text, path)
    try:
        return pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                           na_values=[""], engine="c", skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise CasebaseError(f"{path}: no columns to read (no header row). Export the table with a header row.") from None
    except pd.errors.ParserError as err:
        raise CasebaseError(
            f"{path}: cannot parse as delimited text with delimiter {delimiter!r}: {err}. "
            "Check the delimiter and quoting, or export as xlsx/parquet."
        ) from None


def read_table(path: str | Path, json_key: str | None = None,
               key_flag: str = "--json-key") -> tuple[pd.DataFrame, list[str]]:
    """Read one table; return it (all cells as strings) and a list of warnings.

    ``json_key`` picks the array of a JSON object holding several (``key_flag`` names the
    option in errors). Raises CasebaseError for a missing, empty, unreadable or malformed
    file, and for nested values (lists, parquet structs) that no column could hold.
    """
    path = Path(path)
    warnings: list[str] = []
    if not path.exists():
        raise CasebaseError(f"{path}: no such file. Check the path (it is relative to {Path.cwd()}).")
    if path.is_dir():
        raise CasebaseError(f"{path}: is a directory; give the path of the exported file.")
    fmt = detect_format(path)
    if path.stat().st_size == 0:
        raise CasebaseError(f"{path}: the file is empty (0 bytes). Export the table again.")

    if fmt == "xlsx":
        df = read_xlsx(path)
    elif fmt == "parquet":
        try:
            df = pd.read_parquet(path)
        except Exception as err:  # pyarrow raises several types for corrupt files
            raise CasebaseError(f"{path}: not a readable parquet file ({err}).") from None
    else:
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise CasebaseError(f"{path}: cannot read the file ({err.strerror}). Check its permissions.") from None
        text = decode(raw, path, warnings)
        if not text.strip():
            raise CasebaseError(f"{path}: the file has no content (only white space).")
        if fmt == "csv":
            df = read_csv_text(text, path)
        else:
            df = read_json_text(text, path, lines=fmt == "jsonl", key=json_key, key_flag=key_flag)
    if fmt in ("json", "jsonl", "parquet"):
        refuse_nested(df, path)
    if df.empty and len(df.columns) == 0:
        raise CasebaseError(f"{path}: the file has no columns. Export the table with a header row.")
    df.columns = [repair_surrogates(str(c)).strip() for c in df.columns]
    dups = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dups:  # as_strings would keep one column's values under both names
        raise CasebaseError(
            f"{path}: the column names {', '.join(map(repr, dups))} appear more than once (spaces around names "
            "are ignored). Rename the columns so that each has its own name, and export again.")
    df, repaired = as_strings(df)
    if repaired:
        warnings.append(f"{path.name}: {repaired} cells held invalid characters (lone UTF-16 surrogates); "
                        "they were replaced with U+FFFD")
    return df, warnings


def read_xlsx(path: Path) -> pd.DataFrame:
    if not zipfile.is_zipfile(path):
        raise CasebaseError(
            f"{path}: not a valid xlsx file (an xlsx is a zip archive; this one is not, so it is "
            "damaged or another format renamed). Open and re-save it in Excel, or export as csv."
        )
    try:
        # The first sheet; everything as object so ids keep their text form.
        return pd.read_excel(path, sheet_name=0, dtype=object, engine="openpyxl")
    except Exception as err:  # openpyxl raises many types for broken workbooks
        raise CasebaseError(
            f"{path}: cannot read the workbook ({type(err).__name__}: {err}). "
            "Open and re-save it in Excel, or export as csv."
        ) from None


def read_json_text(text: str, path: Path, lines: bool, key: str | None = None,
                   key_flag: str = "--json-key") -> pd.DataFrame:
    """An array of objects (or JSON lines); nested objects become dotted columns (``requester.name``)."""
    try:
        if lines:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            records = json_records(json.loads(text), path, key, key_flag)
    except json.JSONDecodeError as err:
        raise CasebaseError(f"{path}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}.") from None
    if records and not all(isinstance(r, dict) for r in records):
        raise CasebaseError(f"{path}: every JSON record must be an object with named fields.")
    if any(isinstance(v, dict) for r in records for v in r.values()):
        records = [flatten(r) for r in records]
    if any(not k.isascii() and LONE_SURROGATE.search(k) for r in records for k in r):  # pandas' str index
        repaired = [{repair_surrogates(k): v for k, v in r.items()} for r in records]  # cannot hold them
        if any(len(a) != len(b) for a, b in zip(records, repaired)):
            raise CasebaseError(f"{path}: field names that differ only in invalid characters (lone UTF-16 "
                                "surrogates) appear in one record. Rename the fields and export again.")
        records = repaired
    return pd.DataFrame(records, dtype=object)  # object: big integer ids are not rounded through float


def json_records(data, path: Path, key: str | None, key_flag: str) -> list:
    """The array of a JSON document: the document itself, its one array, or the array named ``key``."""
    if isinstance(data, list):
        return data
    arrays = [k for k, v in data.items() if isinstance(v, list)] if isinstance(data, dict) else []
    found = ", ".join(map(repr, arrays)) or "none"
    if key is not None:
        if key not in arrays:
            raise CasebaseError(f"{path}: {key_flag} {key!r} is not an array of the JSON object; "
                                f"arrays found: {found}.")
        return data[key]
    if len(arrays) > 1:
        raise CasebaseError(f"{path}: the JSON object holds several arrays ({found}); choose the table to read "
                            f"with {key_flag} NAME.")
    if not arrays:
        raise CasebaseError(f"{path}: expected a JSON array of objects (or an object holding one); "
                            f"found {type(data).__name__}{' with no array' if isinstance(data, dict) else ''}.")
    return data[arrays[0]]


def flatten(record: dict, prefix: str = "") -> dict:
    """{"requester": {"name": "x"}} -> {"requester.name": "x"}."""
    out = {}
    for k, v in record.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def refuse_nested(df: pd.DataFrame, path: Path) -> None:
    """Lists (and parquet structs) would be stored as Python reprs: name every such field instead."""
    problems = []
    for col in df.columns:
        if df[col].dtype != object:
            continue
        nested = df[col].map(lambda v: isinstance(v, (list, tuple, dict, np.ndarray)))
        if nested.any():
            first = int(nested.to_numpy().argmax())
            kind = "an object" if isinstance(df[col].iloc[first], dict) else "a list"
            problems.append(f"field {col!r} of row {first + 1} is {kind}")
    if problems:
        raise CasebaseError(
            f"{path}: {'; '.join(problems)}: nested records cannot be mapped yet. Export them as a table of their "
            "own (one row per item, with its ticket id; e.g. comments as the --history file) or drop the field.")


def repair_surrogates(text: str) -> str:
    """Lone UTF-16 surrogates (no file can hold them) as U+FFFD; an adjacent pair joins as JSON joins it."""
    if text.isascii() or not LONE_SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def as_strings(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Every cell as str or None; datetimes as ISO text, whole floats without '.0'; lone surrogates
    replaced. Returns the table and the number of cells repaired."""
    out = {}
    repaired = 0
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            values = [None if pd.isna(v) else v.strftime("%Y-%m-%dT%H:%M:%S") for v in s]
        else:
            values = [cell_to_str(v) for v in s]
            for i, v in enumerate(values):
                if v is not None and not v.isascii() and LONE_SURROGATE.search(v):
                    values[i] = repair_surrogates(v)
                    repaired += 1
        out[col] = pd.Series(values, dtype=object)
    return pd.DataFrame(out, index=pd.RangeIndex(len(df))), repaired


def cell_to_str(value) -> str | None:
    if value is None or value is pd.NA or value is pd.NaT:  # pd.NA: missing in nullable columns
        return None
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is pd.NaT:
        return None
    text = str(value)
    return text if text.strip() else None
