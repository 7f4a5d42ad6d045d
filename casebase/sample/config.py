"""The sample command's settings (it writes no manifest, so `casebase rerun` does not know it)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from casebase.config import StageConfig


class SampleConfig(StageConfig):
    out: Path = Field(Path("sample"), description="Directory to write the export into.")
    tickets: int = Field(1500, ge=1, description="Number of tickets.")
    seed: int = Field(0, description="Random seed (same seed, same data).")
    format: Literal["xlsx", "csv"] = Field("xlsx", description="xlsx or csv.")
