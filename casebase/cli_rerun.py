"""``casebase rerun MANIFEST``: a stage again, from the config its manifest recorded (registered on
``casebase.cli.app``).

    casebase rerun ws/split.json                    # split again, as it ran
    casebase rerun ws/index.json --check            # ... and compare the new outputs' sha256 with the recorded ones
    casebase rerun ws/models/hybrid/manifest.json --overwrite

``rerun`` (the function) is the same for Python callers and tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.text import Text

from casebase.cli import JsonOpt, QuietOpt, USER_ERRORS, app, emit, fail, setup
from casebase.errors import CasebaseError
from casebase.render import out
from casebase.workspace import Workspace, path_sha256

# Stages whose rerun replaces an earlier run's folder (models/NAME): only with --overwrite.
REPLACES = {"train"}


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CasebaseError(f"{path}: no such manifest. Give a stage's manifest: WS/<stage>.json, "
                            "WS/models/NAME/manifest.json or WS/eval/RUN/manifest.json.") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise CasebaseError(f"{path}: not a readable JSON manifest ({error}).") from None
    if not isinstance(data, dict):
        raise CasebaseError(f"{path}: not a stage manifest (a JSON object with stage and config).")
    return data


def saved_config(manifest: dict[str, Any], path: Path, model, stage: str):
    """The manifest's config as ``model``, or an error saying why it cannot be used and what to run instead."""
    from pydantic import ValidationError

    from casebase.config import problem

    by_hand = f"re-run the stage by hand: `casebase {stage} --workspace WS ...` (`casebase {stage} --help`)"
    saved = manifest.get("config")
    if not isinstance(saved, dict):
        raise CasebaseError(f"{path}: the manifest records no config (written by casebase "
                            f"{manifest.get('casebase_version', '?')}, before configs were saved); {by_hand}.")
    try:
        return model(**saved)
    except ValidationError as error:
        problems = "; ".join(problem(e) for e in error.errors())
        raise CasebaseError(f"{path}: its config does not fit this casebase's {model.__name__} ({problems}); it was "
                            f"written by casebase {manifest.get('casebase_version', '?')}: {by_hand}.") from None


def compare(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[str]]:
    """The outputs of two manifests by their recorded hashes: same, differ, missing (old only), new (new only)."""
    def sig(record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if k != "path"}  # the path may be another workspace's

    a, b = old.get("files") or {}, new.get("files") or {}
    return {"same": sorted(k for k in a if k in b and sig(a[k]) == sig(b[k])),
            "differ": sorted(k for k in a if k in b and sig(a[k]) != sig(b[k])),
            "missing": sorted(k for k in a if k not in b), "new": sorted(k for k in b if k not in a)}


def inner_files(stage: str, ws: Workspace) -> dict[str, Any]:
    """Outputs a stage records in a manifest of its own: every file of index/ (index.json records metadata.parquet
    only; index/manifest.json all of them)."""
    if stage != "index":
        return {}
    try:
        files = json.loads((ws.index / "manifest.json").read_text()).get("files") or {}
    except (OSError, ValueError):
        return {}
    return {f"index/{name}": record for name, record in files.items() if name != "metadata.parquet"}


def changed_inputs(manifest: dict[str, Any], root: Path) -> list[str]:
    """Inputs whose file is gone or no longer has the sha256 the manifest recorded (outputs may differ then). A
    relative path (relative to where the stage ran) is looked for from here and from the workspace's parents."""
    changed = []
    for name, record in (manifest.get("inputs") or {}).items():
        if not isinstance(record, dict) or "sha256" not in record:
            continue
        path = Path(record.get("path", ""))
        if not path.is_absolute():
            path = next((p for p in [path, *(a / path for a in Path(root).resolve().parents)] if p.is_file()), path)
        if not path.exists() or path_sha256(path) != record["sha256"]:
            changed.append(name)
    return changed


def rerun(path: Path, workspace: Path | None = None, check: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Run the stage that wrote the manifest at ``path`` again with its recorded config; with ``check``, compare
    the new outputs with the recorded ones. Returns what was re-run (and the comparison)."""
    from casebase.config import WORKSPACE_DEPTH, stage_name, stage_of

    path = Path(path)
    manifest = read_manifest(path)
    model, run = stage_of(manifest, path)
    stage = stage_name(manifest)
    cfg = saved_config(manifest, path, model, stage)
    if "force" in model.model_fields:  # re-run means run: not "up to date, nothing to do"
        cfg = cfg.model_copy(update={"force": True})
    home = path.resolve().parents[WORKSPACE_DEPTH.get(stage, 0)]  # the workspace the manifest lies in
    root = workspace or home
    ws = Workspace.at(root, create=False)
    inputs_changed = changed_inputs(manifest, ws.root)
    if stage in REPLACES and not overwrite:
        raise CasebaseError(f"`casebase rerun {path}` replaces {path.parent} (the {stage} run it re-runs): "
                            "add --overwrite, or run `casebase train --config ...` under another --name.")
    before = inner_files(stage, ws)
    run(ws, cfg, overwrite=True) if stage in REPLACES else run(ws, cfg)
    # the manifest the run wrote (some runs return a summary instead): the same place in the workspace run in
    new_path = ws.root / path.resolve().relative_to(home)
    new = read_manifest(new_path) if new_path.is_file() else {}
    result: dict[str, Any] = {"stage": stage, "manifest": str(path), "workspace": str(ws.root),
                              "config": cfg.saved(), "inputs_changed": inputs_changed}
    if check:
        result["check"] = compare(manifest, new)
        for key, names in compare({"files": before}, {"files": inner_files(stage, ws)}).items():
            result["check"][key] = sorted(result["check"][key] + names)
    return result


def print_rerun(result: dict[str, Any]) -> None:
    out.print(Text(f"re-ran {result['stage']} in {result['workspace']} with the config of {result['manifest']}"))
    if result["inputs_changed"]:
        out.print(Text(f"note: inputs changed since that run: {', '.join(result['inputs_changed'])} "
                       "(different outputs are expected)", style="yellow"))
    c = result.get("check")
    if c is None:
        return
    out.print(Text(f"check: {len(c['same'])} of {len(c['same']) + len(c['differ']) + len(c['missing'])} "
                   "recorded outputs byte-identical"))
    for label in ("differ", "missing", "new"):
        if c[label]:
            out.print(Text(f"  {label}: {', '.join(c[label])}", style="red" if label != "new" else ""))


@app.command("rerun")
def rerun_command(
    manifest: Annotated[Path, typer.Argument(
        help="A stage's manifest: WS/STAGE.json (ingest, extract, split, index), WS/models/NAME/manifest.json "
             "(train), WS/eval/RUN/manifest.json (evaluate).")],
    workspace: Annotated[Optional[Path], typer.Option(
        "--workspace", "-w", help="Run in this workspace [default: the manifest's].")] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Compare the new outputs' sha256 with the manifest's; exit code 1 if any differ.")] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Allow re-running train, which replaces models/NAME.")] = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a stage again exactly as its manifest says it ran (its saved config), e.g. to reproduce a result.

    Example: `casebase rerun ws/index.json --check`
    """
    setup(quiet, as_json)
    try:
        result = rerun(manifest, workspace, check=check, overwrite=overwrite)
    except USER_ERRORS as err:
        fail(err)
    emit(result, as_json, quiet, print_rerun)
    c = result.get("check")
    if c and (c["differ"] or c["missing"]):
        raise typer.Exit(1)
