"""Build and extend the retrieval index of a workspace.

    casebase index --workspace ws                                 # train.jsonl -> ws/index/
    casebase index --workspace ws --text problem+solution --model /models/e5-small-v2
    casebase index --workspace ws --add new_cases.jsonl           # retain: appended to the segment, only they embedded
    casebase index --workspace ws --ann-threshold 0 --ann always  # force an HNSW graph (usearch)

Writes ``index/embeddings.npy`` (float32, unit rows, row i = metadata row i),
``index/metadata.parquet`` (case_id, problem, solution, category, urgency, opened_at, text),
``index/bm25/`` (bm25s format), ``index/manifest.json``, ``index/hnsw.usearch`` above the ANN
threshold when usearch is installed and the graph, calibrated on the index's own vectors, reaches
the recall target faster than exact search (``--ann auto``), and the stage manifest ``index.json``. Files are written
to ``.index.tmp/`` and swapped in, so a killed run never leaves a half-written index; ``index/manifest.json``
records the hash of every file beside it and a ``build_id`` that ``index.json`` repeats, and ``load_index`` checks
both. A killed embedding run resumes from checkpoints under ``cache/``, and a rebuild re-embeds only texts the
previous index (same model) or the segment does not already hold.

The index's inputs are train.jsonl and ``cases-retained.jsonl`` (cases the server retained, or given to ``--add``:
see ``retained``); a rebuild merges them (a train id wins) and empties the segment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from casebase import __version__
from casebase.errors import CasebaseError
from casebase.jsonl import read_jsonl
from casebase.progress import log
from casebase.retrieve.ann import HNSW, graph_pays
from casebase.retrieve.bm25 import TOKENIZER_VERSION, BM25Index
from casebase.retrieve.config import ANN_MODES, TEXT_MODES, IndexConfig  # noqa: F401  (ANN_MODES, TEXT_MODES: API)
from casebase.retrieve.embed import (Embedder, encode_batched, encode_queries, encoder_of, get_case_embedder,
                                     get_query_embedder, query_tokens)
from casebase.retrieve.index import index_dir, load_index, verify_index
from casebase.retrieve.retained import (RETAINED, after_rebuild, append_cases, case_text, read_generation,
                                        read_retained, read_vectors, text_key)
from casebase.workspace import (Manifest, Workspace, atomic_dir, file_record, file_sha256, recover_dir, verify_outputs,
                                write_manifest)

FIELDS = ("ticket_id", "opened_at", "problem", "solution", "category", "urgency")


def read_cases(path: Path) -> pd.DataFrame:
    """Cases of a JSONL file (train.jsonl form); every bad line is reported at once."""
    expected = f"Each line needs a JSON object with {', '.join(FIELDS)} (ticket_id and problem not empty)."
    rows = read_jsonl(path, lambda o: (f"no {' or '.join(m)}" if (m := [k for k in ("ticket_id", "problem")
                                                                        if o.get(k) in (None, "")]) else None),
                      expected)
    cases = pd.DataFrame([{k: r.get(k) for k in FIELDS} for r in rows], columns=list(FIELDS))
    cases["ticket_id"] = cases["ticket_id"].astype(str)
    if dups := sorted(cases.loc[cases["ticket_id"].duplicated(), "ticket_id"].unique()):
        raise CasebaseError(f"{path}: duplicate ticket_id {', '.join(dups[:5])}. {expected}")
    for col in ("problem", "solution", "opened_at"):
        cases[col] = cases[col].fillna("").astype(str)
    return cases


def case_texts(cases: pd.DataFrame, mode: str) -> list[str]:
    if mode == "problem":
        return cases["problem"].tolist()
    return [f"{p}\n\n{s}".strip() for p, s in zip(cases["problem"], cases["solution"])]


def best_similarities(queries: np.ndarray, embeddings: np.ndarray, block: int = 1024) -> np.ndarray:
    """Highest cosine of each query row to any embedding row, in blocks to bound memory."""
    return np.concatenate([(queries[i: i + block] @ embeddings.T).max(axis=1) for i in range(0, len(queries), block)]
                          or [np.zeros(0, dtype=np.float32)])


def calibrate(embedder: Embedder, embeddings: np.ndarray, val_path: Path, quantile: float,
              default: float = 0.3, max_tokens: int | None = None) -> dict:
    """The abstain threshold: the ``quantile`` of val problems' best cosine to the index (``default`` without val).
    Val problems are encoded as queries are (``embedder``: the query encoder; cut to ``max_tokens``)."""
    val = read_cases(val_path) if val_path.exists() else None
    if val is None or val.empty:
        return {"threshold": default, "method": "default", "reason": f"no val cases in {val_path}"}
    best = best_similarities(encode_queries(embedder, val["problem"].tolist(), max_tokens, "calibrating on val"),
                             embeddings)
    return {"threshold": round(float(np.quantile(best, quantile)), 4), "method": "val-quantile",
            "quantile": quantile, "val_cases": len(val), "val_sha256": file_sha256(val_path),
            "of": "best dense cosine of each val problem to the indexed cases",
            "best_similarity": {q: round(float(np.quantile(best, v)), 4)
                                for q, v in (("min", 0), ("p10", 0.1), ("median", 0.5), ("max", 1))}}


def _embed_reusing(ws: Workspace, embedder: Embedder, texts: list[str], old: dict | None,
                   known: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, int]:
    """Embeddings of texts, copying rows the previous index (same model) holds and ``known`` ones (text -> vector,
    the segment's); (embeddings, reused count)."""
    out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    todo = list(range(len(texts)))
    if known:
        hits = [i for i, t in enumerate(texts) if t in known]
        for i in hits:
            out[i] = known[texts[i]]
        todo = sorted(set(todo) - set(hits))
    root = index_dir(ws)
    if old and old.get("model") == embedder.name and old.get("dimension") == embedder.dimension:
        try:
            verify_outputs(root / "manifest.json", "casebase index")  # never reuse rows of an edited or damaged index
            old_rows = {t: i for i, t in enumerate(pd.read_parquet(root / "metadata.parquet", columns=["text"])["text"])}
            old_emb = np.load(root / "embeddings.npy", mmap_mode="r")
            hits = [(i, old_rows[t]) for i, t in enumerate(texts) if t in old_rows]
            if hits:
                new_i, old_i = map(list, zip(*hits))
                out[new_i] = old_emb[old_i]
                todo = sorted(set(todo) - set(new_i))
        except (CasebaseError, OSError, KeyError, ValueError, IndexError) as err:  # a damaged old index: embed all
            log(f"note: cannot reuse embeddings of the previous index ({err}); embedding all cases")
            todo = [i for i in range(len(texts)) if not (known and texts[i] in known)]
    pending = [texts[i] for i in todo]
    digest = hashlib.sha256("\x00".join([embedder.name, *pending]).encode()).hexdigest()[:16]
    checkpoint = ws.cache / f"index-embed-{digest}"
    if pending:
        out[todo] = encode_batched(embedder, pending, f"embedding {len(pending)} cases",
                                   checkpoint_dir=checkpoint if len(pending) > 4096 else None)
    shutil.rmtree(checkpoint, ignore_errors=True)
    return out, len(texts) - len(todo)


def _decide_ann(count: int, threshold: int, embeddings: np.ndarray, mode: str,
                target: float) -> tuple[HNSW | None, dict]:
    """Exact search up to ``threshold`` cases; above it an HNSW graph, calibrated to recall@10 >= ``target``.

    ``auto`` keeps the graph only when it reaches the target and is faster than exact search on the
    calibration queries; ``always`` keeps it regardless (at the best expansion_search tried);
    ``never`` stays exact. The manifest records the measurements behind the choice."""
    info = {"kind": "exact", "threshold": threshold, "mode": mode, "target_recall": target}
    if mode == "never" or count <= threshold:
        return None, info
    if not HNSW.available():
        note = f"{count} cases > --ann-threshold {threshold}, but usearch is not installed (pip install usearch)"
        log(f"note: {note}: exact search")
        return None, {**info, "note": note}
    t = time.perf_counter()
    ann = HNSW.build(embeddings)
    build_s = time.perf_counter() - t
    cal = ann.calibrate(embeddings, target)
    info.update(calibration=cal, build_s=round(build_s, 1), checked_at_count=count)
    measured = (f"HNSW recall@10 {cal['recall']:.3f} at expansion_search {cal['expansion_search']} "
                f"({cal['ann_p50_ms']:.2f} ms a query vs {cal['exact_p50_ms']:.2f} ms exact)")
    if mode == "always" or graph_pays(cal):
        log(f"{count} cases: {measured}")
        return ann, {**info, "kind": "hnsw", "library": "usearch", "file": HNSW.FILE,
                     "expansion_search": cal["expansion_search"], "recall@10": cal["recall"]}
    note = (f"{measured} does not reach --ann-recall {target}" if not cal["reached"]
            else f"{measured} is no faster than exact search")
    log(f"note: {count} cases: {note}: exact search")
    return None, {**info, "note": note}


def _write(ws: Workspace, embeddings: np.ndarray, metadata: pd.DataFrame, bm25: BM25Index, ann: HNSW | None,
           manifest: dict) -> None:
    def write(tmp: Path) -> None:
        np.save(tmp / "embeddings.npy", np.ascontiguousarray(embeddings, dtype=np.float32))
        metadata.to_parquet(tmp / "metadata.parquet", index=False)
        bm25.save(tmp / "bm25")
        if ann is not None:
            ann.save(tmp / HNSW.FILE)
        files = {p.relative_to(tmp).as_posix(): file_record(p, sampled=True)
                 for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / "manifest.json").write_text(json.dumps({**manifest, "files": files}, indent=2, default=str))

    atomic_dir(index_dir(ws), write)


def _metadata(cases: pd.DataFrame, texts: list[str]) -> pd.DataFrame:
    meta = cases.rename(columns={"ticket_id": "case_id"})[["case_id", "problem", "solution", "category", "urgency",
                                                           "opened_at"]].copy()
    meta["text"] = texts
    return meta


def build_index(ws: Workspace, cfg: IndexConfig | None = None, *, embedder: Embedder | None = None,
                **overrides) -> Manifest:
    """Index the workspace's train cases (dense + BM25), calibrate abstention on val; returns the manifest.

    ``build_index(ws, IndexConfig(text="problem+solution"))`` or ``build_index(ws, model="fake")``; ``embedder``
    (an object, for tests) replaces the one ``model`` names."""
    from casebase.config import resolve

    cfg = resolve(IndexConfig, cfg, overrides, "index")
    text, model, ann_threshold, ann, ann_recall, abstain_quantile, force = (
        cfg.text, cfg.model, cfg.ann_threshold, cfg.ann, cfg.ann_recall, cfg.abstain_quantile, cfg.force)
    t0 = time.perf_counter()
    train, val = ws.split("train"), ws.split("val")
    ws.require("split", train, val)
    if not train.exists():
        raise CasebaseError(f"{train} not found: run `casebase split --workspace {ws.root}` first.")
    cases = read_cases(train)
    if cases.empty:
        raise CasebaseError(f"{train} has no cases: check `casebase split` (resolved cases only) and its counts.")
    kept, retained_bytes = read_retained(ws.root)  # the bytes read: their hash is what this build holds
    if clash := sorted({r["ticket_id"] for r in kept} & set(cases["ticket_id"])):
        log(f"note: {len(clash)} retained case id(s) are also train ids (train wins): {', '.join(clash[:5])}")
    retained_rows, seen = [], set(cases["ticket_id"])
    for row in kept:
        if row["ticket_id"] not in seen:
            seen.add(row["ticket_id"])
            retained_rows.append({k: row.get(k) for k in FIELDS})
    if retained_rows:
        extra_cases = pd.DataFrame(retained_rows, columns=list(FIELDS))
        for col in ("problem", "solution", "opened_at"):
            extra_cases[col] = extra_cases[col].fillna("").astype(str)
        cases = pd.concat([cases, extra_cases], ignore_index=True)
    retained_sha = hashlib.sha256(retained_bytes).hexdigest() if (ws.root / RETAINED).exists() else None
    # cases are embedded whole (ONNX fp32 or torch); val problems, in calibration, as queries are
    query_embedder = embedder or get_query_embedder(model)
    embedder = embedder or get_case_embedder(model)
    budget = query_tokens()
    encoders = {"cases": encoder_of(embedder), "queries": encoder_of(query_embedder), "query_tokens": budget}
    key = {"train_sha256": file_sha256(train), "val_sha256": file_sha256(val) if val.exists() else None,
           "retained_sha256": retained_sha,
           "model": embedder.name, "text": text, "tokenizer": TOKENIZER_VERSION, "ann_threshold": ann_threshold,
           "usearch": HNSW.available() if len(cases) > ann_threshold else None, "abstain_quantile": abstain_quantile,
           "ann": ann, "ann_recall": ann_recall, "query_encoder": encoders["queries"], "query_tokens": budget}
    path = index_dir(ws) / "manifest.json"
    recover_dir(path.parent)
    old = _read_json(path)
    if old and old.get("build_key") == key and not old.get("added") and not force and _vouched(ws):
        log(f"index in {path.parent} is up to date (same inputs, model and settings): nothing to do; --force rebuilds")
        if read_generation(ws.root)[1] != old.get("build_id"):  # killed before its last step, or forget since
            after_rebuild(ws.root, set(cases["ticket_id"]), old["build_id"])
        return {**ws.read_manifest("index"), "skipped": True}
    if old and old.get("added"):
        log(f"note: rebuilding from train drops the {sum(a['cases'] for a in old['added'])} case(s) added with "
            "--add before casebase kept them in cases-retained.jsonl")

    texts = case_texts(cases, text)
    t1 = time.perf_counter()
    embeddings, reused = _embed_reusing(ws, embedder, texts, old, segment_vectors(ws.root, embedder, text))
    t2 = time.perf_counter()
    bm25 = BM25Index.build(texts)
    t3 = time.perf_counter()
    abstain = calibrate(query_embedder, embeddings, val, abstain_quantile, max_tokens=budget)
    graph, ann_info = _decide_ann(len(cases), ann_threshold, embeddings, ann, ann_recall)
    inputs = {"train": {"path": str(train), "sha256": key["train_sha256"], "cases": len(cases) - len(retained_rows)},
              "val": {"path": str(val), "sha256": key["val_sha256"]} if val.exists() else None,
              "retained": {"path": str(ws.root / RETAINED), "sha256": retained_sha, "cases": len(retained_rows)}
              if retained_sha else None}
    manifest = {"format": 1, "casebase_version": __version__, "created_at": _now(), "model": embedder.name,
                "encoder": {**encoders, "queries_why": getattr(query_embedder, "choice", None)},
                "dimension": embedder.dimension, "dtype": "float32", "normalised": True, "count": len(cases),
                "text": text, "inputs": inputs, "added": [], "abstain": abstain, "ann": ann_info,
                "bm25": {"library": "bm25s", "method": "lucene", "k1": 1.5, "b": 0.75, "tokenizer": TOKENIZER_VERSION,
                         "vocabulary": len(bm25.retriever.vocab_dict), "avgdl": bm25.avgdl},
                "build_key": key, "build_id": secrets.token_hex(8)}
    ws.begin("index")
    _write(ws, embeddings, _metadata(cases, texts), bm25, graph, manifest)
    embed_s = t2 - t1
    stage_inputs = {"train": {"path": str(train), "sha256": key["train_sha256"]}}
    if val.exists():
        stage_inputs["val"] = {"path": str(val), "sha256": key["val_sha256"]}
    if retained_sha:
        stage_inputs["retained"] = {"path": str(ws.root / RETAINED), "sha256": retained_sha}
    stage = write_manifest(
        ws, "index",
        config=cfg.model_copy(update={"model": embedder.name}).saved(),  # the model that ran, by name
        inputs={"train": train} | ({"val": val} if val.exists() else {}),
        counts={"cases": len(cases), "retained": len(retained_rows), "embedded": len(cases) - reused,
                "reused_embeddings": reused,
                "dimension": embedder.dimension, "bm25_vocabulary": manifest["bm25"]["vocabulary"]},
        timings={"embed": embed_s, "bm25": t3 - t2, "calibrate_and_write": time.perf_counter() - t3,
                 "total": time.perf_counter() - t0,
                 "texts_per_s": (len(cases) - reused) / embed_s if embed_s > 0 and reused < len(cases) else 0.0},
        extra={"outputs": {"index": str(index_dir(ws))}, "abstain": abstain, "ann": ann_info,
               "encoder": manifest["encoder"],
               "index_build": manifest["build_id"], "inputs": stage_inputs},  # retained: the bytes this build read
        files=[index_dir(ws) / "metadata.parquet"],
    )
    after_rebuild(ws.root, set(cases["ticket_id"]), manifest["build_id"])  # merged: the segment empties, servers reload
    return stage


def add_to_index(ws: Workspace, path: str | Path, embedder: Embedder | None = None) -> dict:
    """Retain the cases of a JSONL file: appended to ``cases-retained.jsonl`` (kept by every rebuild) and to the
    index's segment, only they embedded; the main index is not rewritten. Returns a summary (not a stage manifest:
    ``index.json`` still describes the main index)."""
    t0 = time.perf_counter()
    path = Path(path)
    if not path.exists():
        raise CasebaseError(f"--add {path}: file not found (a JSONL file with the fields of train.jsonl).")
    index = load_index(ws, embedder)
    new = read_cases(path)
    if new.empty:
        raise CasebaseError(f"--add {path}: no cases in the file.")
    if clash := sorted(set(new["ticket_id"]) & set(index.ids)):
        raise CasebaseError(f"--add {path}: {len(clash)} ticket_id(s) already in the index, e.g. "
                            f"{', '.join(clash[:5])}; give new cases only.")
    rows = new.astype(object).where(new.notna(), None).to_dict("records")
    try:
        total = append_cases(index, rows, source=str(path))
    except CasebaseError as err:
        raise CasebaseError(f"--add {path}: {err}; give new cases only.") from None
    return {"stage": "index", "config": {"text": index.manifest["text"], "model": index.manifest["model"],
                                         "add": str(path)},
            "counts": {"cases": total, "added": len(rows), "embedded": len(rows)},
            "timings_s": {"total": round(time.perf_counter() - t0, 3)},
            "abstain": index.manifest["abstain"], "ann": index.manifest["ann"],
            "retained": {"path": str(ws.root / RETAINED), "segment": total - index.n_main},
            "outputs": {"index": str(index_dir(ws))}}


def segment_vectors(root: Path, embedder: Embedder, text: str) -> dict[str, np.ndarray]:
    """text -> vector of the retained cases the segment holds for this model and text mode (reused by a rebuild)."""
    found, _ = read_vectors(root, embedder.dimension)
    keys = {text_key(embedder.name, case_text(r, text)): case_text(r, text) for r in read_retained(root)[0]}
    return {keys[tk]: vec for tk, vec in found.values() if tk in keys}


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or damaged: build anew
        return None


def _vouched(ws: Workspace) -> bool:
    """Whether the index on disk is whole and index.json describes it (else a rebuild, not "up to date")."""
    try:
        return verify_index(ws) is not None and ws.read_manifest("index") is not None
    except CasebaseError:
        return False


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def parse_weights(text: str) -> tuple[float, float]:
    """``--weights DENSE,BM25`` for hybrid search."""
    try:
        dense, bm25 = (float(x) for x in text.split(","))
    except ValueError:
        raise CasebaseError(f"--weights {text!r}: give two numbers DENSE,BM25, e.g. 1,1 or 0.7,0.3") from None
    return dense, bm25


def read_queries(path: Path) -> list[dict]:
    """``--queries FILE.jsonl``: one {"id", "text", optional "exclude_id"} per line."""
    rows = read_jsonl(path, lambda o: None if isinstance(o.get("text"), str) and o["text"].strip()
                      else 'needs a non-empty "text"',
                      'Each line: {"id": "...", "text": "..."} (optional "exclude_id").', f"--queries {path}")
    if not rows:
        raise CasebaseError(f"--queries {path}: no queries in the file.")
    return [{"id": r.get("id", r["_line"]), "text": r["text"], "exclude_id": r.get("exclude_id")} for r in rows]
