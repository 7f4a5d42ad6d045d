"""Releases: what an evaluation measured, recorded so that serving serves exactly that.

    casebase evaluate -w ws --name 2026-12     # writes releases/2026-12/manifest.json for the arm it recommends
    casebase releases -w ws                    # lists them, each checked against the files on disk
    casebase serve -w ws --release latest      # the newest release that is not a trial (the default)

A release records the arm, the model (base spec and the content of its weights, the adapter's sha256 and its training
config), k, the token budget, the prompt version, the tickets evaluated and the primary metric with its 95% interval,
and the evaluation run. Serving checks it against the workspace and refuses a release whose adapter, base model or
settings differ from what was measured, naming the command that fixes it. An evaluation of fewer than
``TRIAL_BELOW`` tickets, with the fake model, or without the retrieval baseline beside the arm makes a ``trial`` release: served only by name, never as ``latest``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from casebase import arms as arm_registry
from casebase.errors import CasebaseError
from casebase.workspace import Workspace, file_sha256, write_json

TRIAL_BELOW = 30  # tickets: fewer cannot tell arms apart (the intervals of 12 tickets span most of the scale)


def trial_reasons(tickets: int, llm: str | None, arms: list[str] | None = None, ws: Workspace | None = None) -> list[str]:
    """Why an evaluation cannot vouch for what it recommends (empty: it can). The fake model counts as given with
    --llm or as the base an adapter was trained on (``ws`` resolves it)."""
    reasons = []
    if tickets < TRIAL_BELOW:
        reasons.append(f"{tickets} tickets evaluated (fewer than {TRIAL_BELOW})")
    specs = {llm} | ({arm_registry.base_spec(ws, a, llm) for a in arms or [] if a != "retrieval"} if ws else set())
    if "fake" in {(s or "").strip() for s in specs}:
        reasons.append("evaluated with the fake model")
    if arms is not None and "retrieval" not in arms:
        reasons.append("retrieval, the baseline an arm must beat, was not evaluated beside it")
    return reasons


def model_record(ws: Workspace, arm: str, llm: str | None) -> dict[str, Any]:
    """What the arm's answers depend on, by content: base model files, adapter weights, adapter training config."""
    if arm == "retrieval":
        return {"base": None, "adapter": None, "adapter_sha256": None, "adapter_config_sha256": None}
    adapter = arm_registry.ADAPTER[arm]
    spec = arm_registry.base_spec(ws, arm, llm)
    trained = arm_registry.adapter_manifest(ws, adapter).get("config") if adapter else None
    return {"base": arm_registry.base_fingerprint(spec), "adapter": adapter,
            "adapter_sha256": arm_registry.adapter_sha256(ws, adapter),
            "adapter_config_sha256": _sha(trained) if adapter else None}


def write_release(ws: Workspace, *, name: str, summary: dict, config: dict[str, Any], eval_manifest) -> dict:
    """releases/<name>/manifest.json for the arm ``summary`` recommends (its run's name)."""
    arm = summary["recommended"]
    s = summary["arms_summary"][arm][summary["primary_metric"]]
    llm = config.get("llm")
    reasons = trial_reasons(summary["tickets"], llm, summary.get("arms"), ws)
    max_length = arm_registry.arm_max_length(ws, arm) if arm != "retrieval" else None
    record = {
        "stage": "release", "name": name,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "status": "trial" if reasons else "release", "trial_because": reasons,
        "arm": arm, "recommended_reason": summary.get("recommended_reason"),
        "llm": llm, "model": model_record(ws, arm, llm),
        "k": config["k"], "max_new_tokens": config["max_new_tokens"], "max_length": max_length,
        "token_budget": None if max_length is None else max_length - config["max_new_tokens"],
        "prompt_version": _prompt_version(),
        "tickets": summary["tickets"],
        "metric": {"name": summary["primary_metric"], "mean": s["mean"], "low": s["low"], "high": s["high"]},
        "index": index_record(ws),
        "eval_run": str(eval_manifest.parent.relative_to(ws.root)),
        "eval_manifest_sha256": file_sha256(eval_manifest),
    }
    ws.release(name).parent.mkdir(parents=True, exist_ok=True)
    write_json(ws.release(name), record)
    return record


def index_record(ws: Workspace) -> dict[str, Any] | None:
    """What retrieval answers depend on beyond the cases (which retained cases and rebuilds legitimately change):
    the embedding model, the indexed text and the BM25 tokenizer."""
    try:
        manifest = json.loads((ws.index / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {"model": manifest.get("model"), "text": manifest.get("text"),
            "bm25_tokenizer": (manifest.get("bm25") or {}).get("tokenizer")}


def _prompt_version() -> str:
    from casebase.llm.answer import PROMPT_VERSION

    return PROMPT_VERSION


def _sha(data: Any) -> str:
    from casebase.extract.cache import content_key

    return content_key(data)


def all_releases(ws: Workspace) -> list[dict]:
    """Every release in the workspace, newest first (unreadable ones included with an ``error``)."""
    found = []
    for path in sorted(ws.releases.glob("*/manifest.json")) if ws.releases.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(record, dict) or "arm" not in record:
                raise ValueError("not a release record")
        except (OSError, ValueError) as err:
            record = {"name": path.parent.name, "error": f"{path} cannot be read ({err})", "created_at": ""}
        found.append(record)
    return sorted(found, key=lambda r: (r.get("created_at") or "", r.get("name") or ""), reverse=True)


def find(ws: Workspace, which: str) -> dict | None:
    """The release named ``which``, or with ``latest`` the newest one that is not a trial (None when there is none).
    An unknown name is an error that lists the releases there are."""
    releases = all_releases(ws)
    if which == "latest":
        return next((r for r in releases if r.get("status") == "release" and "error" not in r), None)
    for r in releases:
        if r.get("name") == which:
            if "error" in r:
                raise CasebaseError(f"release {which}: {r['error']}: evaluate again "
                                    f"(`casebase evaluate --workspace {ws.root} --name {which}`)")
            return r
    names = ", ".join(r["name"] for r in releases) or "none yet"
    raise CasebaseError(f"--release {which!r}: no such release in {ws.releases} (releases: {names}; "
                        f"`casebase releases --workspace {ws.root}` lists them, `casebase evaluate` makes one)")


def mismatches(ws: Workspace, release: dict, *, llm: str | None = None, k: int | None = None,
               max_new_tokens: int | None = None) -> list[str]:
    """How the workspace (and the serving settings given) differ from what the release measured; [] when it can
    be served exactly."""
    arm, problems = release["arm"], []
    if arm not in arm_registry.ARMS:
        return [f"its arm {arm!r} is not one this version knows ({', '.join(arm_registry.ARMS)})"]
    if k is not None and k != release.get("k"):
        problems.append(f"--k {k} differs from the release's {release.get('k')}")
    was_index, now_index = release.get("index"), index_record(ws)
    if was_index and now_index and was_index != now_index:
        changed = [f for f in was_index if was_index[f] != now_index.get(f)]
        problems.append(f"the index was rebuilt with another {', '.join(changed)} ({', '.join(str(now_index.get(f)) for f in changed)}; "
                        f"measured {', '.join(str(was_index[f]) for f in changed)})")
    if arm == "retrieval":  # no model, no prompt: only the cases and how they are found matter
        return problems
    if llm is not None and arm_registry.base_spec(ws, arm, llm) != arm_registry.base_spec(ws, arm, release.get("llm")):
        problems.append(f"--llm {llm} is not the model it was measured with "
                        f"({arm_registry.base_spec(ws, arm, release.get('llm'))})")
    if max_new_tokens is not None and max_new_tokens != release.get("max_new_tokens"):
        problems.append(f"--max-new-tokens {max_new_tokens} differs from the release's {release.get('max_new_tokens')}")
    if release.get("prompt_version") != _prompt_version():
        problems.append(f"it was measured with prompt {release.get('prompt_version')}, this version builds "
                        f"{_prompt_version()}")
    adapter = arm_registry.ADAPTER[arm]
    if adapter and not arm_registry.has_adapter(ws, arm):
        problems.append(f"the {adapter} adapter it was measured with is gone from {ws.model(adapter)}")
        return problems
    now = model_record(ws, arm, release.get("llm"))
    was = release.get("model") or {}
    if adapter and now["adapter_sha256"] != was.get("adapter_sha256"):
        problems.append(f"the {adapter} adapter in {ws.model(adapter)} was retrained since it was evaluated "
                        f"(weights sha256 {str(now['adapter_sha256'])[:12]}, measured {str(was.get('adapter_sha256'))[:12]})")
    elif adapter and now["adapter_config_sha256"] != was.get("adapter_config_sha256"):
        problems.append(f"the {adapter} adapter's training config differs from the one evaluated")
    if now["base"] != was.get("base"):
        problems.append(f"the base model {release.get('llm') or (now['base'] or {}).get('spec')} differs from the one "
                        "evaluated (its weight files changed)")
    if release.get("max_length") is not None and arm_registry.arm_max_length(ws, arm) != release["max_length"]:
        problems.append(f"prompts would take {arm_registry.arm_max_length(ws, arm)} tokens, measured with "
                        f"{release['max_length']}")
    return problems


def fix_command(ws: Workspace, release: dict) -> str:
    """The evaluation that made the release, again on what is on disk: the same tickets, arms and settings."""
    manifest = ws.root / release.get("eval_run", f"eval/{release['name']}") / "manifest.json"
    if manifest.exists():
        return f"casebase rerun {manifest}"
    arms = ",".join(dict.fromkeys(["retrieval", release["arm"]]))
    llm = f" --llm {release['llm']}" if release.get("llm") else ""
    return f"casebase evaluate --workspace {ws.root} --arms {arms}{llm} --name {release['name']}"


def check(ws: Workspace, release: dict, **given) -> None:
    """A CasebaseError naming what differs and the fix, unless ``release`` can be served exactly."""
    problems = mismatches(ws, release, **given)
    if problems:
        raise CasebaseError(f"release {release['name']} cannot be served as it was measured: {'; '.join(problems)}. "
                            f"Evaluate again to make a release of what is on disk (`{fix_command(ws, release)}`), "
                            f"serve another (`casebase releases --workspace {ws.root}`), or drop the flags that differ.")


def describe(release: dict | None) -> str:
    """One line for a person: 'release NAME: hybrid+rag, rouge_l 0.31 [0.28, 0.34] on 120 tickets'."""
    if release is None:
        return "no release"
    m = release.get("metric") or {}
    line = (f"release {release['name']}: {release['arm']}, {m.get('name')} {m.get('mean', 0):.3f} "
            f"[{m.get('low', 0):.3f}, {m.get('high', 0):.3f}] on {release.get('tickets')} tickets")
    if release.get("status") == "trial":
        line += f" (TRIAL: {'; '.join(release.get('trial_because') or [])})"
    return line
