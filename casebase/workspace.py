"""Workspace paths and manifests.

Every stage reads and writes files in one workspace directory (``--workspace``,
default ``./workspace`` or ``$CASEBASE_WORKSPACE``) and records a manifest
``<stage>.json`` beside its outputs: casebase version, git sha, config, input file
hashes, row counts and timings, so any result can be traced and reproduced.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from casebase import __version__

DEFAULT_WORKSPACE = "workspace"


def resolve_workspace(path: str | Path | None = None) -> Path:
    """The workspace directory: the argument, else $CASEBASE_WORKSPACE, else ./workspace."""
    return Path(path or os.environ.get("CASEBASE_WORKSPACE") or DEFAULT_WORKSPACE)


@dataclass(frozen=True)
class Workspace:
    """Named paths of the files in one workspace (see docs/architecture.md)."""

    root: Path

    @classmethod
    def at(cls, path: str | Path | None = None, create: bool = True) -> "Workspace":
        root = resolve_workspace(path)
        if create:
            root.mkdir(parents=True, exist_ok=True)
        return cls(root)

    @property
    def tickets(self) -> Path:
        return self.root / "tickets.parquet"

    @property
    def messages(self) -> Path:
        return self.root / "messages.parquet"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine.csv"

    @property
    def secret(self) -> Path:
        """Per-workspace key for stable pseudonyms (never leaves the workspace)."""
        return self.root / ".pseudonym-key"

    def manifest_path(self, stage: str) -> Path:
        return self.root / f"{stage}.json"

    def read_manifest(self, stage: str) -> dict[str, Any] | None:
        path = self.manifest_path(stage)
        return json.loads(path.read_text()) if path.exists() else None


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@cache
def git_sha() -> str | None:
    """The git commit of the casebase source tree, or None outside a checkout."""
    src = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True, timeout=5,
    ).stdout.strip()
    return sha + ("-dirty" if dirty else "")


def library_versions(names: tuple[str, ...] = ("pandas", "pyarrow", "ftfy", "torch", "transformers",
                                               "sentence-transformers", "peft", "bm25s")) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def write_manifest(ws: Workspace, stage: str, *, config: dict[str, Any], inputs: dict[str, str | Path],
                   counts: dict[str, Any], timings: dict[str, float], extra: dict[str, Any] | None = None,
                   path: Path | None = None) -> dict:
    """Write ``<stage>.json`` into the workspace (or to ``path``) and return it as a dict."""
    manifest = {
        "stage": stage,
        "casebase_version": __version__,
        "git_sha": git_sha(),
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "libraries": library_versions(),
        "config": config,
        "inputs": {name: {"path": str(p), "sha256": file_sha256(p)} for name, p in inputs.items()},
        "counts": counts,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        **(extra or {}),
    }
    write_json(path or ws.manifest_path(stage), manifest)
    return manifest


def atomic_write(path: Path, write) -> None:
    """``write(tmp)`` into a temporary file beside ``path``, then rename it over ``path``: a reader
    sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, default=str)))
