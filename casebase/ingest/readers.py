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
import zipfile
from pathlib import Path

import pandas as pd

from casebase.errors import CasebaseError

FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
           ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
DELIMITERS = ",;\t|"


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
        return raw.decode("utf-16")
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
    delimiter = sniff_delimiter(text, path)
    try:
        return pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                           na_values=[""], engine="c")
    except pd.errors.ParserError as err:
        raise CasebaseError(
            f"{path}: cannot parse as delimited text with delimiter {delimiter!r}: {err}. "
            "Check the delimiter and quoting, or export as xlsx/parquet."
        ) from None


def read_table(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """Read one table; return it (all cells as strings) and a list of warnings.

    Raises CasebaseError for a missing, empty, unreadable or malformed file.
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
        text = decode(path.read_bytes(), path, warnings)
        if not text.strip():
            raise CasebaseError(f"{path}: the file has no content (only white space).")
        if fmt == "csv":
            df = read_csv_text(text, path)
        else:
            df = read_json_text(text, path, lines=fmt == "jsonl")
    if df.empty and len(df.columns) == 0:
        raise CasebaseError(f"{path}: the file has no columns. Export the table with a header row.")
    df.columns = [str(c).strip() for c in df.columns]
    return as_strings(df), warnings


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


def read_json_text(text: str, path: Path, lines: bool) -> pd.DataFrame:
    try:
        if lines:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
            records = data if isinstance(data, list) else next(
                (v for v in data.values() if isinstance(v, list)), None) if isinstance(data, dict) else None
            if records is None:
                raise CasebaseError(
                    f"{path}: expected a JSON array of objects (or an object holding one); "
                    f"found {type(data).__name__}."
                )
    except json.JSONDecodeError as err:
        raise CasebaseError(f"{path}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}.") from None
    if records and not all(isinstance(r, dict) for r in records):
        raise CasebaseError(f"{path}: every JSON record must be an object with named fields.")
    return pd.DataFrame.from_records(records)


def as_strings(df: pd.DataFrame) -> pd.DataFrame:
    """Every cell as str or None; datetimes as ISO text, whole floats without '.0'."""
    out = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            values = [None if pd.isna(v) else v.strftime("%Y-%m-%dT%H:%M:%S") for v in s]
        else:
            values = [cell_to_str(v) for v in s]
        out[col] = pd.Series(values, dtype=object)
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def cell_to_str(value) -> str | None:
    if value is None:
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
