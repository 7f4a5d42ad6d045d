"""CPU generation speed: the product's backends against llama.cpp itself, on the same prompts and the same GGUF.

    .venv/bin/python bench/generate.py                  # 8 held-out forum-support prompts, 128 new tokens, greedy
    .venv/bin/python bench/generate.py --prompts 4 --max-new-tokens 64
    .venv/bin/python bench/generate.py --adapter workspace/demo/models/hybrid   # an adapter arm too (make demo)

Prompts: the base arm's answer prompt (``casebase.llm.answer.build_messages``, no retrieved cases) of the first N
solved test threads of forum-support, after ``casebase ingest`` (redacted). Each backend generates every prompt
once to warm up, then is timed on all of them (tokens/s = generated tokens / wall time):
- **llama.cpp** (the baseline): ``llama_cpp.Llama.create_chat_completion`` called directly, one prompt at a time;
- **llamacpp backend** (``--llm llamacpp``, and ``--llm local`` on CPU where llama-cpp-python is installed);
- **openai backend -> llama.cpp's server** (``python -m llama_cpp.server`` on a loopback port, one slot);
- **transformers** (``--llm local`` with ``CASEBASE_LOCAL_BACKEND=transformers``), at batch 1 and batch 8;
- with ``--adapter``: that LoRA adapter on transformers + PEFT (batch 1 and 8) and on the llamacpp backend with
  the adapter converted by llama.cpp's converter (``casebase.llm.lora_gguf``), as the adapter arms run.
Needs llama-cpp-python (``make setup-llamacpp``); without it only the transformers rows run. Writes
bench/out/generate.json.
"""

from __future__ import annotations

import _venv  # noqa: F401  (re-runs under .venv/bin/python)
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from casebase.llm.answer import build_messages  # noqa: E402
from casebase.llm.gguf import default_gguf  # noqa: E402
from casebase.text import problem_text  # noqa: E402

FORUM = REPO.parent / "shared" / "datasets" / "forum-support"


def test_prompts(n: int) -> list[list[dict]]:
    from casebase.ingest import run as ingest
    from casebase.workspace import Workspace

    ws = Workspace.at(Path(tempfile.mkdtemp()) / "ws")
    ingest(ws, FORUM / "tickets.csv", FORUM / "messages.csv", mapping="canonical")
    labels = pd.read_csv(FORUM / "solutions.csv")
    tickets = pd.read_parquet(ws.tickets).set_index("ticket_id")
    msgs = pd.read_parquet(ws.messages).sort_values(["ticket_id", "position"])
    first = msgs.groupby("ticket_id")["body"].first()
    wanted = [t for t in labels.loc[labels["split"] == "test", "ticket_id"] if t in first.index][:n]
    return [build_messages(problem_text(str(tickets.loc[t, "subject"] or ""), first[t])) for t in wanted]


def timed(name: str, generate, prompts, count_tokens) -> dict:
    generate(prompts[:1])  # warm-up: first-call costs (loading is done before)
    t0 = time.perf_counter()
    replies = generate(prompts)
    seconds = time.perf_counter() - t0
    tokens = sum(count_tokens(r) for r in replies)
    row = {"backend": name, "seconds": round(seconds, 2), "tokens": tokens, "tokens_per_s": round(tokens / seconds, 1)}
    print(json.dumps(row), flush=True)
    return row


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--adapter", type=Path, help="a PEFT LoRA adapter of the bundled model (workspace/demo/models/"
                    "hybrid after make demo): also time it on llama.cpp (converted) and on transformers + PEFT")
    args = ap.parse_args()
    if not (FORUM / "tickets.csv").exists():
        sys.exit(f"forum-support not found at {FORUM}")
    prompts = test_prompts(args.prompts)
    n = args.max_new_tokens
    from casebase.llm import llamacpp

    rows = []
    from casebase.llm.local import LocalLLM

    hf = LocalLLM(batch_size=1)
    count = hf.count_tokens  # one tokenizer counts every backend's replies: the same GGUF vocabulary
    if llamacpp.available():
        from llama_cpp import Llama

        raw = Llama(model_path=str(default_gguf()), n_ctx=4096, n_threads=os.cpu_count(),
                    n_threads_batch=os.cpu_count(), seed=0, verbose=False)
        greedy = dict(max_tokens=n, temperature=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0)
        rows.append(timed("llama.cpp (llama_cpp.Llama, direct)", lambda ps: [
            raw.create_chat_completion(messages=p, **greedy)["choices"][0]["message"]["content"] for p in ps],
            prompts, count))
        del raw
        backend = llamacpp.LlamaCppLLM()
        rows.append(timed("casebase llamacpp backend", lambda ps: backend.generate(ps, n), prompts, count))
        del backend
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf()),
                                   "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
                                   "--model_alias", "smollm2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            import httpx

            for _ in range(240):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.5)
            from casebase.llm.openai import OpenAILLM

            client = OpenAILLM(f"http://127.0.0.1:{port}/v1", "smollm2", concurrency=1)
            rows.append(timed("casebase openai backend -> llama.cpp server", lambda ps: client.generate(ps, n),
                              prompts, count))
        finally:
            server.terminate()
            server.wait(timeout=30)
    else:
        print("llama-cpp-python not installed (make setup-llamacpp): transformers only", flush=True)
    rows.append(timed("casebase transformers backend, batch 1", lambda ps: hf.generate(ps, n), prompts, count))
    hf.batch_size = 8
    rows.append(timed("casebase transformers backend, batch 8", lambda ps: hf.generate(ps, n), prompts, count))
    if args.adapter:  # an adapter arm: llama.cpp with the converted LoRA against transformers + PEFT
        tuned = LocalLLM(batch_size=1, adapter=args.adapter)
        rows.append(timed(f"adapter {args.adapter.name}: transformers + PEFT, batch 1", lambda ps: tuned.generate(ps, n),
                          prompts, count))
        tuned.batch_size = 8
        rows.append(timed(f"adapter {args.adapter.name}: transformers + PEFT, batch 8", lambda ps: tuned.generate(ps, n),
                          prompts, count))
        del tuned
        if llamacpp.available():
            from casebase.llm import lora_gguf

            lora = lora_gguf.convert(args.adapter, default_gguf())
            backend = llamacpp.LlamaCppLLM(default_gguf(), lora=lora, lora_name=args.adapter.name)
            rows.append(timed(f"adapter {args.adapter.name}: casebase llamacpp backend, LoRA converted",
                              lambda ps: backend.generate(ps, n), prompts, count))
            del backend
    base = next((r["tokens_per_s"] for r in rows if r["backend"].startswith("llama.cpp")), None)
    for r in rows:
        r["vs_llama_cpp"] = round(r["tokens_per_s"] / base, 2) if base else None
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    result = {"prompts": len(prompts), "max_new_tokens": n, "threads": os.cpu_count(), "rows": rows}
    (out / "generate.json").write_text(json.dumps(result, indent=2))
    print("\n| backend | tokens/s | vs llama.cpp |\n|---|---:|---:|")
    for r in rows:
        print(f"| {r['backend']} | {r['tokens_per_s']} | {r['vs_llama_cpp']} |")


if __name__ == "__main__":
    main()
