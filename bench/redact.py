"""Redaction quality and speed: the current redactor against the one of commit 2b8075a, in one run.

    .venv/bin/python bench/redact.py                     # labelled set + 2,000 forum-support messages
    .venv/bin/python bench/redact.py --limit-forum 500   # a smaller forum sample (0 to skip it)

Labelled set (tests/data/pii, scored by bench/redact_eval.py): recall of the planted personal data per
type and language, the share of technical strings kept verbatim, messages/s. Forum-support (when
../shared/datasets/forum-support/messages.csv exists): the share of technical-looking tokens (letters
mixed with digits, versions, T-codes, identifiers with underscores, lowerCamelCase, error codes, hex)
that survive redaction of their message, placeholders per 1,000 words, and a sample of 30 redactions
the current redactor makes and the baseline does not, for a human to judge. Writes bench/out/redact.json.
"""

from __future__ import annotations

import _venv  # noqa: F401  (re-runs under .venv/bin/python)
import argparse
import difflib
import json
import os
import random
import re
import subprocess
import sys
import time
import types
from collections import Counter
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from redact_eval import LANGS, TYPES, batch_redact, describe_data, load_cases, score  # noqa: E402

FORUM = REPO.parent / "shared" / "datasets" / "forum-support"
BASELINE_COMMIT = "2b8075a"
_PLACEHOLDER = re.compile(r"<(?:%s)>" % "|".join(TYPES))
_TECH_TOKEN = re.compile(r"""(?<![\w.@/:\\-])(?:
    \d+(?:\.\d+){2,}                                  # versions 1.2.3, 4.0.30319
  | 0x[0-9A-Fa-f]{2,}                                 # hex
  | [A-Z]{2,8}-\d{3,6}                                # ORA-00942, SQL-1034
  | [A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+            # ALL_CAPS_IDS, other_identifiers
  | [a-z]+[A-Z][A-Za-z0-9]*                           # lowerCamelCase: getEntitySet, doContent
  | (?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z0-9]{3,20}   # letters and digits mixed: ME21N, SE38, KB5034441
)(?![\w@\\-]|\.\w)""", re.X)
_ORDINAL = re.compile(r"\d+(?:st|nd|rd|th)", re.I)
_DIFF_TOKEN = re.compile(r"<[A-Z_]+>|\w+|\s+|[^\w\s]")


def load_baseline(commit: str = BASELINE_COMMIT) -> types.ModuleType:
    """casebase/ingest/redact.py and names.py as of ``commit``, as modules of a throwaway package."""
    name = f"casebase_baseline_{commit}"
    pkg = types.ModuleType(name)
    pkg.__path__ = []
    sys.modules[name] = pkg
    for mod, path in (("redact", "casebase/ingest/redact.py"), ("names", "casebase/ingest/names.py")):
        src = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=REPO, check=True, capture_output=True,
                             text=True).stdout
        if mod == "names":
            old = "from casebase.ingest.redact import COMMON_WORDS"
            if old not in src:
                raise RuntimeError(f"{commit}:{path} no longer has {old!r}")
            src = src.replace(old, f"from {name}.redact import COMMON_WORDS")
        m = types.ModuleType(f"{name}.{mod}")
        m.__file__ = f"{commit}:{path}"
        sys.modules[m.__name__] = m
        setattr(pkg, mod, m)
        exec(compile(src, m.__file__, "exec"), m.__dict__)
    return pkg


def builders() -> dict:
    from casebase.ingest.redact import build_redactor

    base = load_baseline()
    return {
        "baseline": lambda corpus: base.redact.Redactor(
            (), key=b"bench", first_names=base.names.drop_ambiguous(base.names.first_names(), corpus)),
        "current": lambda corpus: build_redactor(names=(), corpus=corpus, key=b"bench", config=None),
    }


def run_redactor(build, corpus: list[str], texts: list[str]) -> tuple[list, float, float]:
    """(results, build seconds, redaction seconds)."""
    t0 = time.perf_counter()
    fn = batch_redact(build(corpus))
    t1 = time.perf_counter()
    out = fn(texts)
    return out, t1 - t0, time.perf_counter() - t1


def _text(r) -> str:
    return r[0] if isinstance(r, tuple) else r


def tech_tokens(text: str) -> set[str]:
    """Technical-looking tokens of ``text``, outside e-mail addresses and URLs, less IP-like quads."""
    found = set()
    for chunk in text.split():
        if "@" in chunk or "://" in chunk or chunk.startswith("www."):
            continue
        for m in _TECH_TOKEN.finditer(chunk):
            tok = m.group(0)
            parts = tok.split(".")
            if len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts) or _ORDINAL.fullmatch(tok):
                continue
            found.add(tok)
    return found


def redacted_spans(text: str, output: str) -> list[tuple[int, int, str]]:
    """(start, end, placeholders) of the parts of ``text`` that ``output`` replaced by placeholders."""
    a, b = _DIFF_TOKEN.findall(text), _DIFF_TOKEN.findall(output)
    offsets = [0]
    for t in a:
        offsets.append(offsets[-1] + len(t))
    spans = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        ph = [t for t in b[j1:j2] if _PLACEHOLDER.fullmatch(t)]
        if tag != "equal" and ph and i2 > i1:
            spans.append((offsets[i1], offsets[i2], " ".join(ph)))
    return spans


def window(text: str, start: int, end: int, placeholder: str, width: int = 40) -> str:
    flat = lambda s: re.sub(r"\s+", " ", s)  # noqa: E731
    return (f"…{flat(text[max(0, start - width):start])}[[{flat(text[start:end])}]]→{placeholder}"
            f"{flat(text[end:end + width])}…")


def forum_part(build, limit: int, seed: int) -> dict:
    msgs = pd.read_csv(FORUM / "messages.csv", dtype=str)["body"].fillna("").tolist()
    rng = random.Random(seed)
    sample = rng.sample(msgs, min(limit, len(msgs)))
    words = sum(len(t.split()) for t in sample)
    cands = [tech_tokens(t) for t in sample]
    res, outputs = {}, {}
    for name, b in build.items():
        out, build_s, run_s = run_redactor(b, msgs, sample)
        outputs[name] = [_text(r) for r in out]
        kept = lost = 0
        lost_examples = []
        per_type: Counter = Counter()
        for text, o, cs, r in zip(sample, outputs[name], cands, out):
            for tok in cs:
                if re.search(r"(?<!\w)%s(?!\w)" % re.escape(tok), o):
                    kept += 1
                else:
                    lost += 1
                    lost_examples.append(tok)
            if isinstance(r, tuple):
                per_type.update(r[1])
            else:
                per_type.update(m.group(0)[1:-1] for m in _PLACEHOLDER.finditer(o))
        total = sum(per_type.values())
        res[name] = {"messages": len(sample), "words": words, "build_s": round(build_s, 2),
                     "msg_per_s": round(len(sample) / run_s) if run_s else None,
                     "technical_tokens": kept + lost, "technical_kept": kept,
                     "technical_kept_rate": round(kept / (kept + lost), 4) if kept + lost else None,
                     "placeholders": total, "placeholders_per_1k_words": round(1000 * total / max(words, 1), 2),
                     "placeholders_by_type": dict(per_type.most_common()),
                     "technical_lost_sample": sorted(Counter(lost_examples).most_common(40))}
    new_only = []
    for i, text in enumerate(sample):
        if outputs["current"][i] == outputs["baseline"][i]:
            continue
        base_spans = redacted_spans(text, outputs["baseline"][i])
        for s, e, ph in redacted_spans(text, outputs["current"][i]):
            if not any(s < be and bs < e for bs, be, _ in base_spans):
                new_only.append(window(text, s, e, ph))
    res["new_only_redactions"] = len(new_only)
    res["new_only_sample"] = random.Random(seed).sample(new_only, min(30, len(new_only)))
    return res


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def table(rows: dict[str, dict], keys: list[str]) -> str:
    return pd.DataFrame({name: [_fmt(r.get(k)) for k in keys] for name, r in rows.items()}, index=keys).to_string()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit-forum", type=int, default=2000, help="forum-support messages to sample (0: skip)")
    ap.add_argument("--seed", type=int, default=0, help="labelled-set expansion and forum sample")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "redact.json")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    build = builders()
    cases = load_cases(args.seed)
    data = describe_data(cases)
    texts = [c.text for c in cases]
    n_planted, n_tech = sum(len(c.planted) for c in cases), sum(len(c.technical) for c in cases)
    print(f"labelled set: {len(cases)} cases, {n_planted} planted values ({data['distinct_values_total']} distinct), "
          f"{n_tech} technical strings ({data['technical_strings_total']} distinct)")
    labelled = {}
    for name, b in build.items():
        out, build_s, run_s = run_redactor(b, texts, texts)
        r = score(lambda _: out, cases, batch=True)
        r["build_s"], r["msg_per_s"] = round(build_s, 2), round(len(texts) / run_s) if run_s else None
        labelled[name] = r
    rows = {n: {**{t: r["recall_by_type"].get(t) for t in TYPES}, "overall recall": r["recall"],
                "technical kept": r["technical_kept_rate"], "messages/s": r["msg_per_s"]}
            for n, r in labelled.items()}
    print("\nrecall by type (labelled set)")
    print(table(rows, [*TYPES, "overall recall", "technical kept", "messages/s"]))
    print("\nrecall by language")
    print(table({n: r["recall_by_lang"] for n, r in labelled.items()}, list(LANGS)))
    for n, r in labelled.items():
        print(f"\n{n}: recall by type x language")
        print(pd.DataFrame(r["recall_by_type_lang"]).T.reindex(index=list(TYPES), columns=list(LANGS)).to_string())
    print("\ntechnical kept by category")
    print(table({n: r["technical_kept_by_category"] for n, r in labelled.items()},
                list(labelled["current"]["technical_kept_by_category"])))
    forum = None
    if args.limit_forum and (FORUM / "messages.csv").exists():
        forum = forum_part(build, args.limit_forum, args.seed)
        keys = ["messages", "msg_per_s", "technical_tokens", "technical_kept_rate", "placeholders",
                "placeholders_per_1k_words"]
        print(f"\nforum-support ({forum['current']['messages']} messages)")
        print(table({n: forum[n] for n in build}, keys))
        print(f"\nredactions by the current redactor that the baseline does not make: {forum['new_only_redactions']}"
              f" (sample of {len(forum['new_only_sample'])})")
        for w in forum["new_only_sample"]:
            print("  " + w)
    elif args.limit_forum:
        print(f"\nforum-support not found at {FORUM}: skipped")
    for r in labelled.values():  # keep the JSON readable: the first misses only
        r["misses"], r["technical_lost"] = r["misses"][:200], r["technical_lost"][:200]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": " ".join(sys.argv), "cpus": os.cpu_count(),
                                    "baseline_commit": BASELINE_COMMIT, "data": data, "labelled": labelled,
                                    "forum": forum}, indent=2, ensure_ascii=False))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
