"""Workspace paths and manifests.

Every stage reads and writes files in one workspace directory (``--workspace``,
default ``./workspace`` or ``$CASEBASE_WORKSPACE``) and records a manifest
``<stage>.json`` beside its outputs: casebase version, git sha, config, input file
hashes, row counts and timings, so any result can be traced and reproduced.

Outputs are written beside their target and renamed into place (``atomic_write``, ``atomic_dir``); the manifest
comes last and records the sha256 of each output (``files``), so a reader (``Workspace.require``) can tell a
finished stage from one that a kill or an edit left out of step with its manifest, and say what to re-run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from casebase import __version__
from casebase.errors import CasebaseError

DEFAULT_WORKSPACE = "workspace"

Manifest = dict[str, Any]
"""A stage's manifest as ``write_manifest`` writes and returns it: stage, casebase_version, git_sha, created_at,
config (the stage's resolved config, ``StageConfig.saved()``: what ``casebase rerun`` runs again), inputs (path and
sha256), counts, timings_s, files (the outputs' sha256), and the stage's own keys."""


def resolve_workspace(path: str | Path | None = None) -> Path:
    """The workspace directory: the argument, else $CASEBASE_WORKSPACE, else ./workspace."""
    return Path(path or os.environ.get("CASEBASE_WORKSPACE") or DEFAULT_WORKSPACE)


@dataclass(frozen=True)
class Workspace:
    """Named paths of the files in one workspace (see docs/architecture.md)."""

    root: Path

    @classmethod
    def at(cls, path: str | Path | None = None, create: bool = True) -> "Workspace":
        """The workspace at ``path`` (created if ``create``); a CasebaseError if it cannot be a directory."""
        root = resolve_workspace(path)
        if root.exists() and not root.is_dir():
            raise CasebaseError(f"--workspace {root} is a file; give a directory.")
        if create:
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise CasebaseError(f"--workspace {root}: cannot create the directory ({err.strerror}); "
                                    "give a directory you can write to.") from None
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
    def cases(self) -> Path:
        return self.root / "cases.parquet"

    def split(self, name: str) -> Path:
        """train.jsonl, val.jsonl or test.jsonl."""
        return self.root / f"{name}.jsonl"

    @property
    def split_removed(self) -> Path:
        """split-removed.csv: the near-duplicates of test cases that split left out of train/val."""
        return self.root / "split-removed.csv"

    @property
    def retained(self) -> Path:
        """Cases retained by agents (POST /api/cases, accepted feedback): an input of the index beside train."""
        return self.root / "cases-retained.jsonl"

    @property
    def index(self) -> Path:
        return self.root / "index"

    @property
    def models(self) -> Path:
        return self.root / "models"

    def model(self, name: str) -> Path:
        return self.models / name

    @property
    def evals(self) -> Path:
        return self.root / "eval"

    def eval_run(self, name: str) -> Path:
        return self.evals / name

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    def release(self, name: str) -> Path:
        """releases/<name>/manifest.json: what `casebase serve --release NAME` serves."""
        return self.releases / name / "manifest.json"

    @property
    def db(self) -> Path:
        """casebase.db: suggestions, feedback, retained-case audit (SQLite)."""
        return self.root / "casebase.db"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def secret(self) -> Path:
        """Per-workspace key for stable pseudonyms (never leaves the workspace)."""
        return self.root / ".pseudonym-key"

    def manifest_path(self, stage: str) -> Path:
        return self.root / f"{stage}.json"

    def read_manifest(self, stage: str) -> dict[str, Any] | None:
        path = self.manifest_path(stage)
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # cut short or edited by hand: say what to do, not a JSON traceback
            raise CasebaseError(f"{path} cannot be read (interrupted or edited): re-run "
                                f"`casebase {stage} --workspace {self.root}`") from None

    def begin(self, stage: str) -> None:
        """Mark ``stage`` as replacing its outputs, until ``write_manifest`` writes its manifest (see ``require``)."""
        begin_outputs(self.manifest_path(stage))

    def require(self, stage: str, *files: Path, command: str | None = None) -> dict[str, Any] | None:
        """The manifest of ``stage``, once every file it vouches for is there with the recorded sha256.

        A reader calls this before it loads a stage's outputs (``files``: the ones it needs); a mismatch, a missing
        file, or files of an interrupted first run without a manifest is a CasebaseError that says what to re-run.
        None when there is no manifest and no sign of an interrupted run (files made by hand, or none yet)."""
        return verify_outputs(self.manifest_path(stage), command or f"casebase {stage} --workspace {self.root}", files)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def path_sha256(path: str | Path) -> str:
    """sha256 of a file, or of a folder's files (their relative names and contents, in sorted order): an input
    given as a folder (a helpdesk's one comments file per ticket) is recorded like a file."""
    path = Path(path)
    if not path.is_dir():
        return file_sha256(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f.relative_to(path).as_posix().encode() + b"\x00" + file_sha256(f).encode() + b"\n")
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
                   path: Path | None = None, files: list[Path] = ()) -> Manifest:
    """Write ``<stage>.json`` into the workspace (or to ``path``) and return it as a dict.

    ``files``: the outputs the stage wrote, recorded with their sha256 under ``files`` (keyed by their path
    relative to the manifest's folder) for ``verify_outputs``; the manifest is written after them, last."""
    path = path or ws.manifest_path(stage)
    manifest = {
        "stage": stage,
        "casebase_version": __version__,
        "git_sha": git_sha(),
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "libraries": library_versions(),
        "config": config,
        # absolute, like ``files``: a manifest means the same read from any directory (`casebase rerun --check`)
        "inputs": {name: {"path": str(Path(p).resolve()), "sha256": path_sha256(p)} for name, p in inputs.items()},
        "counts": counts,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "files": {_relative(f, path.parent): {"path": str(Path(f).resolve()), "sha256": file_sha256(f)} for f in files},
        **(extra or {}),
    }
    write_json(path, manifest)
    pending_marker(path).unlink(missing_ok=True)
    return manifest


def _relative(path: str | Path, folder: Path) -> str:
    return Path(path).resolve().relative_to(folder.resolve()).as_posix()


def pending_marker(manifest: Path) -> Path:
    """Present from the moment a stage starts replacing its outputs until its manifest is written."""
    return manifest.with_name(f".{manifest.name}.writing")


def begin_outputs(manifest: Path) -> None:
    manifest.parent.mkdir(parents=True, exist_ok=True)
    pending_marker(manifest).touch()


def verify_outputs(manifest: Path, command: str, expect=()) -> dict[str, Any] | None:
    """The manifest at ``manifest`` once each file under its ``files`` has the recorded sha256 (or size and
    sha256 of its ends, for big files); otherwise a CasebaseError: "<file> does not match <manifest> (interrupted
    or edited): re-run `<command>`". With no manifest: the same error when files of ``expect`` are there and the
    stage's pending mark says its run was cut short, else None (files made by hand, or nothing yet).
    Manifests written before ``files`` existed are taken as they are."""
    rerun = f"(interrupted or edited): re-run `{command}`"
    if not manifest.exists():
        present = [Path(p) for p in expect if Path(p).exists()]
        if present and pending_marker(manifest).exists():
            raise CasebaseError(f"{present[0]} has no {manifest} beside it {rerun}")
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise CasebaseError(f"{manifest} cannot be read {rerun}")
    for name, record in (data.get("files") or {}).items():
        path = manifest.parent / name
        if not path.is_file():
            raise CasebaseError(f"{path} is missing but {manifest} lists it {rerun}")
        expected = {k: v for k, v in record.items() if k != "path"}
        if file_record(path, sampled="sha256" not in record) != expected:
            raise CasebaseError(f"{path} does not match {manifest} {rerun}")
    return data


def read_parquet(path: Path, command: str, **kw):
    """A stage's parquet output as a DataFrame; one that cannot be read (cut short, and no manifest to tell) is
    a CasebaseError that says what to re-run, never a pyarrow traceback."""
    import pandas as pd

    try:
        return pd.read_parquet(path, **kw)
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise CasebaseError(f"{path} cannot be read ({type(err).__name__}: {str(err)[:100]}): "
                            f"re-run `{command}`") from None


SAMPLE_ABOVE = 256 << 20  # bytes: a bigger file is checked by its size and the sha256 of its first and last MiB


def file_record(path: Path, sampled: bool = False) -> dict[str, Any]:
    """What a manifest records of an output: its sha256, or with ``sampled`` and above SAMPLE_ABOVE bytes its size
    and the sha256 of its ends (hashing 1.5 GB of embeddings costs ~0.8 s on top of a ~3 s load)."""
    size = path.stat().st_size
    if not sampled or size <= SAMPLE_ABOVE:
        return {"sha256": file_sha256(path)}
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        f.seek(-(1 << 20), os.SEEK_END)
        h.update(f.read(1 << 20))
    return {"bytes": size, "ends_sha256": h.hexdigest()}


def atomic_write(path: Path, write) -> None:
    """``write(tmp)`` into a temporary file beside ``path``, then rename it over ``path``: a reader
    sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:  # on disk before the rename: a power cut leaves no empty file either
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_dir(path: Path, write) -> None:
    """``write(tmp)`` fills a temporary folder beside ``path``, which then takes the place of ``path``: a reader
    finds the old folder or the new one, whole (a kill between the two renames is undone by ``recover_dir``)."""
    tmp, old = path.with_name(f".{path.name}.tmp"), path.with_name(f".{path.name}.old")
    recover_dir(path)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write(tmp)
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            path.rename(old)
        tmp.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def recover_dir(path: Path) -> None:
    """Put the previous folder back when a kill fell between moving it aside and moving the new one in."""
    old = path.with_name(f".{path.name}.old")
    if not path.exists() and old.is_dir():
        old.rename(path)


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, default=str)))
