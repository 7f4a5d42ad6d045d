"""Quoted replies and signatures beyond English: casebase's cleaning rules against the
``mail-parser-reply`` library on the same messages.

    .venv/bin/pip install mail-parser-reply==1.36     # only to measure; casebase does not depend on it
    .venv/bin/python bench/clean_multilingual.py [--before OLD_CLEAN_PY] [--forum N]

Two sets:
- the labelled e-mail threads of ``bench/clean_langs_set.py`` (de/fr/nl/es/it/en, written for it):
  token F1 of the kept text against the expected text, the share of messages where quoted
  history or the signature leaks, and the share where expected content is lost;
- forum-support messages (English, real): the expected output is what casebase's rules keep
  (with ``--before``, the rules of that older clean.py): how many messages another approach
  changes, and how much of the expected text it eats.

Approaches (each ends with the casebase rules, as ingest would run them):
- ``rules``: casebase ``clean_text``; ``rules-before``: the clean.py given with ``--before``;
- ``lib+rules``: mail-parser-reply's ``parse_reply`` (the latest reply, quoted history cut)
  after HTML-to-text, then the rules; ``lib-body+rules``: its ``read().replies[0].body``
  (signatures cut too), then the rules; ``lib+rules-before``: parse_reply, then the old rules;
  ``lib-only``: parse_reply, white space normalised, nothing else.
The library is given all six languages (a desk does not know a message's language beforehand).
Writes bench/out/clean_multilingual.json.
"""

from __future__ import annotations

import _venv  # noqa: F401  (re-runs under .venv/bin/python)
import argparse
import csv
import importlib.util
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from casebase.ingest import clean  # noqa: E402
from clean_langs_set import cases, heldout  # noqa: E402

FORUM = REPO.parent / "shared" / "datasets" / "forum-support" / "messages.csv"
LANGUAGES = ["de", "fr", "nl", "es", "it", "en"]
_TOKEN = re.compile(r"\w+")


def tokens(text: str) -> Counter:
    return Counter(t.lower() for t in _TOKEN.findall(text or ""))


def f1(got: str, want: str) -> tuple[float, float, float]:
    """Token-level precision, recall and F1 of got against want (bags of lower-cased words)."""
    g, w = tokens(got), tokens(want)
    if not g and not w:
        return 1.0, 1.0, 1.0
    common = sum((g & w).values())
    p = common / max(sum(g.values()), 1)
    r = common / max(sum(w.values()), 1)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def leaks(got: str, part: str, *others: str) -> bool:
    """True when words found only in part (quoted history, signature), not in the others (the
    expected text, the other parts, the greeting), are in got."""
    own = set(tokens(part)) - set().union(*(tokens(o) for o in others))
    return bool(own & set(tokens(got)))


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("clean_before", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def with_library(mod: ModuleType, parser, body: bool = False, rules: bool = True):
    """clean_text of mod with the library's reply split after HTML-to-text."""
    def run(text: str) -> str:
        if not text:
            return ""
        text = mod.fix_encoding(text)
        text = mod.html_to_text(text)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = mod.strip_images(text)
        if body:
            msg = parser.read(text)
            text = msg.replies[0].body if msg.replies else text
        else:
            text = parser.parse_reply(text) or ""
        if not rules:
            return mod.normalise_whitespace(text)
        for step in (mod.strip_quoted, mod.strip_boilerplate, mod.strip_signature, mod.strip_greeting):
            text = step(text)
        return mod.normalise_whitespace(text)
    return run


def approaches(before: ModuleType | None) -> dict:
    out = {"rules": clean.clean_text}
    if before is not None:
        out["rules-before"] = before.clean_text
    try:
        from mailparser_reply import EmailReplyParser
    except ImportError:
        print("mail-parser-reply is not installed: only the rules are measured "
              "(.venv/bin/pip install mail-parser-reply==1.36)")
        return out
    # a fresh parser per call: the library appends English to the language list it is given
    class Fresh:
        def parse_reply(self, text):
            return EmailReplyParser(languages=list(LANGUAGES)).parse_reply(text)

        def read(self, text):
            return EmailReplyParser(languages=list(LANGUAGES)).read(text)

    lib = Fresh()
    out["lib+rules"] = with_library(clean, lib)
    out["lib-body+rules"] = with_library(clean, lib, body=True)
    if before is not None:
        out["lib+rules-before"] = with_library(before, lib)
    out["lib-only"] = with_library(clean, lib, rules=False)
    return out


def score_labelled(fns: dict, data: list) -> dict:
    res = {}
    for name, fn in fns.items():
        per_lang: dict[str, list] = {}
        rows = []
        for c in data:
            got = fn(c.raw)
            p, r, f = f1(got, c.expected)
            row = {"id": c.id, "lang": c.lang, "f1": f, "recall": r, "precision": p,
                   "quote_leak": bool(c.quote) and leaks(got, c.quote, c.expected, c.signature, c.greeting),
                   "signature_leak": bool(c.signature) and leaks(got, c.signature, c.expected, c.quote, c.greeting),
                   "content_lost": r < 1.0, "exact": got == clean.normalise_whitespace(c.expected)}
            rows.append(row)
            per_lang.setdefault(c.lang, []).append(row)

        def summary(rs):
            n = len(rs)
            return {"n": n, "f1": round(sum(r["f1"] for r in rs) / n, 3),
                    "exact": round(sum(r["exact"] for r in rs) / n, 3),
                    "quote_leak": round(sum(r["quote_leak"] for r in rs) / n, 3),
                    "signature_leak": round(sum(r["signature_leak"] for r in rs) / n, 3),
                    "content_lost": round(sum(r["content_lost"] for r in rs) / n, 3)}
        res[name] = {"all": summary(rows), **{lang: summary(rs) for lang, rs in per_lang.items()},
                     "failures": [r["id"] for r in rows if not r["exact"]]}
    return res


def score_forum(fns: dict, expected_fn, limit: int) -> dict:
    with FORUM.open(newline="", encoding="utf-8") as fh:
        bodies = [row["body"] for row in csv.DictReader(fh)][: limit or None]
    want = [expected_fn(b) for b in bodies]
    res = {}
    for name, fn in fns.items():
        t0 = time.process_time()  # CPU seconds: the machine is shared, wall time is noise
        got = [fn(b) for b in bodies]
        secs = time.process_time() - t0
        changed = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
        recalls = [f1(got[i], want[i])[1] for i in changed]
        lost = sum(1 for r in recalls if r < 1.0)
        lost_tokens = sum(sum((tokens(want[i]) - tokens(got[i])).values()) for i in changed)
        res[name] = {"n": len(bodies), "changed": len(changed), "content_lost": lost,
                     "content_lost_10pct": sum(1 for r in recalls if r < 0.9),
                     "tokens_lost": lost_tokens, "tokens_expected": sum(sum(tokens(w).values()) for w in want),
                     "msg_per_cpu_s": round(len(bodies) / secs), "examples": changed[:10]}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, help="an older casebase/ingest/clean.py to compare with")
    ap.add_argument("--forum", type=int, default=0, help="forum-support messages to use (0: all)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "clean_multilingual.json")
    args = ap.parse_args()
    before = load_module(args.before) if args.before else None
    fns = approaches(before)
    labelled, held = score_labelled(fns, cases()), score_labelled(fns, heldout())
    for title, data, scores in (("labelled set", cases(), labelled), ("held-out set", heldout(), held)):
        print(f"{title}: {len(data)} messages")
        print(f"{'approach':<18} {'F1':>6} {'exact':>6} {'quote leak':>10} {'sig leak':>9} {'lost':>6}   "
              "F1 de/fr/nl/es/it/en")
        for name, r in scores.items():
            a = r["all"]
            langs = "/".join(f"{r[lang]['f1']:.2f}" if lang in r else "  - " for lang in LANGUAGES)
            print(f"{name:<18} {a['f1']:>6.3f} {a['exact']:>6.1%} {a['quote_leak']:>10.1%} "
                  f"{a['signature_leak']:>9.1%} {a['content_lost']:>6.1%}   {langs}")
    forum = {}
    if FORUM.exists():
        expected_fn = before.clean_text if before is not None else clean.clean_text
        forum = score_forum(fns, expected_fn, args.forum)
        n = next(iter(forum.values()))["n"]
        print(f"\nforum-support: {n} messages, expected = {'--before rules' if before else 'current rules'}")
        print(f"{'approach':<18} {'changed':>8} {'lost':>6} {'lost>10%':>9} {'tokens lost':>12} {'msg/cpu-s':>10}")
        for name, r in forum.items():
            print(f"{name:<18} {r['changed']:>8} {r['content_lost']:>6} {r['content_lost_10pct']:>9} "
                  f"{r['tokens_lost']:>12} {r['msg_per_cpu_s']:>10}")
    else:
        print(f"forum-support not found at {FORUM}: skipped")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": " ".join(sys.argv), "labelled": labelled, "heldout": held,
                                    "forum": forum}, indent=2,
                                   ensure_ascii=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
