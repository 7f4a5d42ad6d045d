"""Aggregate evaluation results (bootstrap intervals, paired differences, triage) and write report.html.

``summarise`` turns results.csv rows into summary.json; ``write_report`` renders a self-contained
HTML page (inline CSS, plots as embedded PNG, no CDN) with every ticket text escaped.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pandas as pd

from casebase.metrics import bootstrap_ci, confusion, macro_f1, paired_bootstrap
from casebase.workspace import atomic_write

METRICS = ("rouge_l", "token_f1", "token_precision", "token_recall", "chrf", "embedding_cosine", "answer_words")
PAIRED = ("rouge_l", "token_f1", "chrf", "embedding_cosine")
PRIMARY = "rouge_l"
REFERENCES = ("retrieval", "base+rag")


def summarise(results: pd.DataFrame, arms: list[str], n_resamples: int = 2000) -> dict:
    """Per-arm means with 95% bootstrap intervals, paired differences, per-category scores and triage."""
    by_arm = {arm: results[results["arm"] == arm].sort_values("ticket_id") for arm in arms}
    summary: dict = {"primary_metric": PRIMARY, "arms_summary": {}, "paired": {}, "per_category": {}, "triage": {}}
    for arm, rows in by_arm.items():
        s = {}
        for m in METRICS:
            mean, low, high = bootstrap_ci(rows[m], n_resamples)
            s[m] = {"mean": mean, "low": low, "high": high}
        s["parse_rate"] = float(rows["parsed"].mean())
        s["parse_failures"] = int((~rows["parsed"].astype(bool)).sum())
        s["n"] = len(rows)
        summary["arms_summary"][arm] = s
        for field in ("category", "urgency"):
            known = rows[rows[f"gold_{field}"].notna()]
            if known.empty:
                continue
            gold = known[f"gold_{field}"].astype(str).tolist()
            pred = [None if pd.isna(p) else str(p) for p in known[f"pred_{field}"]]
            mean, low, high = bootstrap_ci(known[f"{field}_correct"].astype(float), n_resamples)
            summary["triage"].setdefault(field, {})[arm] = {
                "accuracy": {"mean": mean, "low": low, "high": high}, "macro_f1": macro_f1(gold, pred),
                "n": len(known), "confusion": confusion(gold, pred)}
    for ref in REFERENCES:
        if ref not in by_arm:
            continue
        for arm in arms:
            if arm == ref:
                continue
            summary["paired"].setdefault(f"vs {ref}", {})[arm] = {
                m: paired_bootstrap(by_arm[arm][m].to_numpy(), by_arm[ref][m].to_numpy(), n_resamples) for m in PAIRED}
    cats = results.dropna(subset=["gold_category"])
    for cat, rows in cats.groupby("gold_category"):
        summary["per_category"][str(cat)] = {"n": int(rows["ticket_id"].nunique()),
                                             **{arm: float(r[PRIMARY].mean()) for arm, r in rows.groupby("arm")}}
    ranked = sorted(arms, key=lambda a: -summary["arms_summary"][a][PRIMARY]["mean"])
    summary["ranking"] = ranked
    summary["best_arm"] = ranked[0]
    summary["recommended"], summary["recommended_reason"] = recommend(summary, ranked)
    return summary


def recommend(summary: dict, ranked: list[str]) -> tuple[str, str]:
    """The arm to serve: retrieval (real precedent, no model) unless a generating arm beats it on the primary
    metric with a paired 95% interval above 0; then the best such arm. A mean that is higher only by chance
    does not displace the baseline."""
    if "retrieval" not in ranked:
        return ranked[0], f"highest mean {PRIMARY} (retrieval was not evaluated)"
    paired = summary["paired"].get("vs retrieval", {})
    better = [a for a in ranked if a != "retrieval" and paired.get(a, {}).get(PRIMARY, {}).get("low", 0.0) > 0]
    if better:
        return better[0], f"beats retrieval on {PRIMARY} with a paired 95% interval above 0"
    return "retrieval", f"no arm beats retrieval on {PRIMARY} with a paired 95% interval above 0"


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def plots(summary: dict, results: pd.DataFrame) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(summary["arms_summary"])
    out = {}
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
    for ax, m in zip(axes, ("rouge_l", "token_f1", "chrf", "embedding_cosine")):
        means = [summary["arms_summary"][a][m]["mean"] for a in arms]
        err = [[means[i] - summary["arms_summary"][a][m]["low"] for i, a in enumerate(arms)],
               [summary["arms_summary"][a][m]["high"] - means[i] for i, a in enumerate(arms)]]
        ax.bar(range(len(arms)), means, yerr=err, capsize=3, color="#4c72b0")
        ax.set_xticks(range(len(arms)), arms, rotation=35, ha="right", fontsize=8)
        ax.set_title(m)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    out["metrics"] = _png(fig)

    per_cat = {c: v for c, v in summary["per_category"].items()}
    if per_cat:
        cats = sorted(per_cat, key=lambda c: -per_cat[c]["n"])[:12]
        fig, ax = plt.subplots(figsize=(12, 3.6))
        width = 0.8 / max(1, len(arms))
        for i, arm in enumerate(arms):
            ax.bar([j + i * width for j in range(len(cats))], [per_cat[c].get(arm, 0) for c in cats], width, label=arm)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cats))],
                      [f"{c} (n={per_cat[c]['n']})" for c in cats], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(PRIMARY)
        ax.legend(fontsize=7, ncol=3)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        out["categories"] = _png(fig)

    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.boxplot([results.loc[results["arm"] == a, "answer_words"] for a in arms], showfliers=False)
    ax.set_xticks(range(1, len(arms) + 1), arms, rotation=20, fontsize=8)
    ax.set_ylabel("answer length (words)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    out["lengths"] = _png(fig)
    return out


def write_report(out: Path, summary: dict, results: pd.DataFrame, tickets, ws, examples: int = 5) -> Path:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    curves = {}
    for name in ("standard", "hybrid"):
        png = ws.model(name) / "curves.png"
        if png.exists():
            curves[name] = base64.b64encode(png.read_bytes()).decode()
    answers = {(r.ticket_id, r.arm): r for r in results.itertuples()}
    sample = [{"ticket": t, "answers": [(a, answers[(t.ticket_id, a)]) for a in summary["arms_summary"]
                                        if (t.ticket_id, a) in answers]} for t in tickets[:examples]]
    html = env.get_template("report.html.j2").render(
        s=summary, plots=plots(summary, results), curves=curves, examples=sample,
        metrics=[m for m in ("rouge_l", "token_f1", "token_precision", "token_recall", "chrf", "embedding_cosine",
                             "answer_words")],
        paired_metrics=("rouge_l", "token_f1", "chrf", "embedding_cosine"), json=json)
    path = out / "report.html"
    atomic_write(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return path
