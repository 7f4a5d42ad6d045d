"""Fine-tuning: answer format, prompt budget, loss masking, RAFT contexts, the training loop, resume, merge.

A 2-layer, 16-wide random Llama (built here, with SmolLM2's tokenizer and chat template from the
converted-GGUF cache that `make setup` fills) keeps the loop tests to seconds; nothing downloads.
"""

from __future__ import annotations

import json

import pytest
import torch

from casebase.errors import CasebaseError
from casebase.llm.answer import Answer, TokenBudget, build_messages, format_answer, parse_answer
from casebase.retrieve import load_index
from casebase.train import TrainConfig, load_config, merge, run
from casebase.train.data import IGNORE, Example, answer_loss, build_examples, collate, encode, read_split


@pytest.fixture
def case_ws(indexed_ws):
    return indexed_ws


def tiny_config(tiny_base, **kw) -> TrainConfig:
    values = dict(base=f"local:{tiny_base}", max_steps=4, batch_size=2, eval_every=2, save_every=2, lr=5e-3,
                  max_length=256, lora_r=4, lora_alpha=8, oracle_depth=5)
    return TrainConfig(**(values | kw))


# --- the answer format and the prompt --------------------------------------------------------------

def test_answer_round_trip_and_tolerant_parse():
    text = format_answer("Grant  SELECT on the table.\nThen rerun.", category="Database", urgency=2.0)
    assert text == "Category: Database\nUrgency: 2\nSolution: Grant SELECT on the table. Then rerun."
    assert parse_answer(text) == Answer("Grant SELECT on the table. Then rerun.", "Database", "2")
    assert parse_answer(format_answer("Do X.", None, "")) == Answer("Do X.", None, None)
    messy = "Sure! Here it is.\n**Category:** Finance\nurgency: High\nSOLUTION: Open the period\nin OB52.\n" \
            "Category: again"
    assert parse_answer(messy) == Answer("Open the period in OB52.", "Finance", "High")
    assert parse_answer("I think you should restart the server.") is None
    assert parse_answer("Category: Finance\nSolution:   ") is None
    echo = "Category: <category>\nUrgency: <urgency>\nSolution: <the steps that solve the ticket>"
    assert parse_answer(echo) is None  # the format echoed back is not an answer
    assert parse_answer("Category: <category>\nSolution: Run <transaction> SE38.") == Answer("Run <transaction> SE38.")


def cases(n=3, words=60):
    return [{"case_id": f"K{i}", "problem": " ".join(f"problem{i}w{j}" for j in range(words)),
             "solution": " ".join(f"solution{i}w{j}" for j in range(words)), "category": "Finance", "urgency": 2}
            for i in range(n)]


def test_prompt_without_budget_holds_everything():
    messages = build_messages("ORA-00942 in ME21N", cases(2, 5))
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert user.startswith("New ticket:\nORA-00942 in ME21N")
    assert "[1] case K0 (category Finance, urgency 2)" in user and "[2] case K1" in user
    assert user.endswith("Solution: <the steps that solve the ticket>")
    assert "Past cases" not in build_messages("ORA-00942", [])[1]["content"]


def test_budget_cuts_the_context_first_then_drops_cases_then_the_ticket(tokenizer):
    problem = "Posting fails with error F5 201 in FB01 for company code 1000."
    full = build_messages(problem, cases())
    full_tokens = TokenBudget.of(tokenizer, None).prompt_tokens(full)
    for limit in (full_tokens - 80, 300, 250):
        budget = TokenBudget.of(tokenizer, limit)
        user = build_messages(problem, cases(), budget)[1]["content"]
        assert budget.prompt_tokens(build_messages(problem, cases(), budget)) <= limit
        assert problem in user  # the ticket is kept whole while any context can still be cut
    assert "[3] case K2" in build_messages(problem, cases(), TokenBudget.of(tokenizer, full_tokens - 80))[1]["content"]
    shown = {limit: build_messages(problem, cases(), TokenBudget.of(tokenizer, limit))[1]["content"].count("] case K")
             for limit in range(full_tokens, 150, -10)}
    assert list(shown.values()) == sorted(shown.values(), reverse=True)  # cases only ever dropped, from the end
    assert {3, 2, 1, 0} <= set(shown.values())
    two = next(limit for limit, n in shown.items() if n == 2)
    tight = build_messages(problem, cases(), TokenBudget.of(tokenizer, two))[1]["content"]
    assert "[2] case K1" in tight and "[3] case K2" not in tight and " …" in tight
    tiny = build_messages(problem * 20, cases(), TokenBudget.of(tokenizer, 150))
    assert "Past cases" not in tiny[1]["content"] and TokenBudget.of(tokenizer, 150).prompt_tokens(tiny) <= 150


# --- tokenisation and the loss mask ----------------------------------------------------------------

def test_encode_masks_the_prompt_and_never_cuts_the_answer(tokenizer):
    example = Example("X1", "Invoice blocked in MIRO", format_answer("Release it in MRBR.", "Finance", 2),
                      context=cases(3, 80))
    features = encode(tokenizer, example, max_length=300)
    ids, labels = features["input_ids"], features["labels"]
    assert len(ids) == len(labels) <= 300
    first = next(i for i, label in enumerate(labels) if label != IGNORE)
    assert all(label == IGNORE for label in labels[:first])
    assert labels[first:] == ids[first:]  # every answer token is learned, none of the prompt
    assert tokenizer.decode(ids[first:]).startswith(example.answer)  # the answer, whole, then end of turn
    assert tokenizer.decode(ids[first:]).rstrip().endswith(tokenizer.eos_token)
    prompt = tokenizer.decode(ids[:first])
    assert prompt == tokenizer.apply_chat_template(build_messages(
        example.problem, example.context, TokenBudget.of(tokenizer, 300 - (len(ids) - first))),
        tokenize=False, add_generation_prompt=True)  # the very prompt inference builds
    assert " …" in prompt  # the context was cut to make room
    long_answer = Example("X2", "p", format_answer("word " * 400))
    assert encode(tokenizer, long_answer, max_length=300) is None


def test_collate_pads_left_and_loss_counts_answer_tokens_only(tokenizer, tiny_base):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_base).eval()
    a = encode(tokenizer, Example("A", "short ticket", format_answer("Do A.", "X", 1)), 256)
    b = encode(tokenizer, Example("B", "a much longer ticket " * 10, format_answer("Do B then C.", "Y", 2)), 256)
    batch = collate([a, b], pad_id=tokenizer.pad_token_id or 0)
    width = batch["input_ids"].shape[1]
    assert width == max(len(a["input_ids"]), len(b["input_ids"]))
    pad = width - len(a["input_ids"])
    assert batch["attention_mask"][0, :pad].sum() == 0 and (batch["labels"][0, :pad] == IGNORE).all()
    assert batch["position_ids"][0, pad].item() == 0 and batch["position_ids"][0, -1].item() == len(a["input_ids"]) - 1

    with torch.no_grad():
        loss, n = answer_loss(model, batch)
        assert n == sum(label != IGNORE for f in (a, b) for label in f["labels"])
        # The same sum by hand over full logits, row by row, without padding at all.
        manual = 0.0
        for f in (a, b):
            logits = model(input_ids=torch.tensor([f["input_ids"]])).logits[0, :-1]
            targets = torch.tensor(f["labels"][1:])
            manual += torch.nn.functional.cross_entropy(logits, targets, ignore_index=IGNORE, reduction="sum")
        assert loss.item() == pytest.approx(manual.item(), rel=1e-4)
        # Padding and prompt tokens carry no loss: changing the pad ids leaves it unchanged ...
        other = dict(batch, input_ids=batch["input_ids"].clone())
        other["input_ids"][0, :pad] = 7
        assert answer_loss(model, other)[0].item() == pytest.approx(loss.item(), rel=1e-5)
        # ... while changing one answer token changes it.
        other = dict(batch, labels=batch["labels"].clone(), input_ids=batch["input_ids"].clone())
        other["labels"][1, -3] = other["input_ids"][1, -3] = (other["input_ids"][1, -3] + 1) % len(tokenizer)
        assert answer_loss(model, other)[0].item() != pytest.approx(loss.item(), rel=1e-5)


# --- RAFT contexts -----------------------------------------------------------------------------------

def test_raft_contexts_exclude_the_case_and_its_near_duplicates(case_ws):
    index = load_index(case_ws)
    train = read_split(case_ws, "train")
    examples = build_examples(train, "hybrid", index, k=3, oracle_share=0.8, oracle_depth=5, seed=1)
    assert len(examples) == len(train)
    for example in examples:
        ids = [c["case_id"] for c in example.context]
        assert example.case_id not in ids and len(ids) == 3 == len(set(ids))
    by_id = {e.case_id: e for e in examples}
    # C01 and C17 are near-duplicates: neither is ever shown the other.
    assert "C17" not in [c["case_id"] for c in by_id["C01"].context]
    assert "C01" not in [c["case_id"] for c in by_id["C17"].context]
    standard = build_examples(train, "standard")
    assert all(e.context == [] for e in standard)
    assert standard[0].answer == format_answer(train[0]["solution"], train[0]["category"], train[0]["urgency"])


def test_raft_oracle_share_and_distractors(case_ws):
    index = load_index(case_ws)
    train = read_split(case_ws, "train")
    always = build_examples(train, "hybrid", index, k=3, oracle_share=1.0, oracle_depth=5)
    assert all(e.oracle_in_context and e.oracle_id in [c["case_id"] for c in e.context] for e in always)
    never = build_examples(train, "hybrid", index, k=3, oracle_share=0.0, oracle_depth=5)
    hits = {t["ticket_id"]: {r["case_id"] for r in index.search(t["problem"], k=5, exclude=t["ticket_id"]).results}
            for t in train}
    for e in never:  # distractors only: none of the example's own top neighbours
        assert e.oracle_in_context is False and not hits[e.case_id] & {c["case_id"] for c in e.context}
    # The share over many seeds matches the setting (binomial, n = 20 x 10 = 200).
    share = sum(e.oracle_in_context for s in range(10)
                for e in build_examples(train, "hybrid", index, k=3, oracle_share=0.8, oracle_depth=5, seed=s)) / 200
    assert 0.7 <= share <= 0.9
    # Draws depend on (seed, case), not on the other cases present.
    alone = build_examples(train[:5], "hybrid", index, k=3, oracle_share=0.8, oracle_depth=5, seed=3)
    full = build_examples(train, "hybrid", index, k=3, oracle_share=0.8, oracle_depth=5, seed=3)
    assert [e.oracle_in_context for e in alone] == [e.oracle_in_context for e in full[:5]]


def test_oracle_is_the_neighbour_with_the_most_similar_solution(case_ws):
    from casebase.metrics import token_prf

    index = load_index(case_ws)
    train = read_split(case_ws, "train")
    for case, example in zip(train, build_examples(train, "hybrid", index, k=3, oracle_share=1.0, oracle_depth=5)):
        neighbours = index.search(case["problem"], k=5, exclude=case["ticket_id"]).results
        best = max(token_prf(r["solution"], case["solution"])[2] for r in neighbours)
        oracle = next(c for c in example.context if c["case_id"] == example.oracle_id)
        assert token_prf(oracle["solution"], case["solution"])[2] == best


# --- the loop, outputs, resume, merge ---------------------------------------------------------------

def test_train_writes_adapter_curves_manifest_and_the_adapter_generates(case_ws, tiny_base):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    manifest = run(case_ws, tiny_config(tiny_base, method="hybrid"))
    out = case_ws.root / "models" / "hybrid"
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer_config.json", "config.json",
                 "curves.csv", "curves.png", "manifest.json"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000002", "step-000004"]
    assert json.loads((out / "config.json").read_text())["method"] == "hybrid"
    assert manifest["counts"]["steps"] == 4 and manifest["counts"]["train_examples"] == 20
    assert manifest["inputs"].keys() == {"train", "val", "index"} and manifest["git_sha"] is not None
    loss = manifest["loss"]
    assert manifest["timings_s"]["tokens_per_s"] > 0
    rows = (out / "curves.csv").read_text().splitlines()
    assert rows[0] == "step,train_loss,val_loss,lr,tokens,train_seconds" and len(rows) == 1 + 5
    # the manifest's losses are the curve's (val_best <= val_start held by construction: best starts at start)
    val = {int(r.split(",")[0]): float(r.split(",")[2]) for r in rows[1:] if r.split(",")[2]}
    assert loss["val_start"] == pytest.approx(val[0]) and loss["val_best"] == pytest.approx(min(val.values()))
    assert loss["best_step"] == min(val, key=lambda step: (val[step], step))
    base = AutoModelForCausalLM.from_pretrained(tiny_base)
    model = PeftModel.from_pretrained(base, out)
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok("hello", return_tensors="pt")
    assert model.generate(**ids, max_new_tokens=3, do_sample=False).shape[1] == ids["input_ids"].shape[1] + 3
    sample = manifest["sample"]  # the saved adapter answered a val ticket: a reply of its own, not a placeholder
    assert sample["case_id"] in {json.loads(line)["ticket_id"] for line in (case_ws.root / "val.jsonl").open()}
    assert isinstance(sample["reply"], str) and sample["reply"].strip() and isinstance(sample["parsed"], bool)


def adapter_weights(path):
    from safetensors.torch import load_file

    return load_file(path / "adapter_model.safetensors")


def test_resume_after_a_kill_ends_where_an_uninterrupted_run_ends(case_ws, tiny_base):
    config = tiny_config(tiny_base, method="standard", name="whole", lora_dropout=0.1)
    run(case_ws, config)

    class Killed(Exception):
        pass

    def kill_at_3(step):
        if step == 3:
            raise Killed

    killed = config.model_copy(update={"name": "killed"})
    with pytest.raises(Killed):
        run(case_ws, killed, on_step=kill_at_3)
    models = case_ws.root / "models"
    assert [p.name for p in (models / "killed" / "checkpoints").iterdir()] == ["step-000002"]
    with pytest.raises(CasebaseError, match="--resume"):
        run(case_ws, killed)
    with pytest.raises(CasebaseError, match="lr"):
        run(case_ws, killed.model_copy(update={"lr": 1e-3}), resume=True)
    manifest = run(case_ws, killed, resume=True)
    assert manifest["resumed"] and manifest["counts"]["steps"] == 4
    whole, resumed = (adapter_weights(models / n / "checkpoints" / "step-000004") for n in ("whole", "killed"))
    assert whole.keys() == resumed.keys()
    for key in whole:
        assert torch.allclose(whole[key], resumed[key], atol=1e-6), key
    curves = [[line.split(",")[:3] for line in (models / n / "curves.csv").read_text().splitlines()]
              for n in ("whole", "killed")]
    assert curves[0] == curves[1]  # same losses at every step


def test_merge_gives_the_same_logits_as_base_plus_adapter(case_ws, tiny_base):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run(case_ws, tiny_config(tiny_base, method="standard", max_steps=2))
    adapter = case_ws.root / "models" / "standard"
    result = merge(adapter)
    merged = AutoModelForCausalLM.from_pretrained(result["merged"]).eval()
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_base), adapter).eval()
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, with_adapter(ids).logits, atol=1e-5)
    assert not (adapter / "merged" / "adapter_config.json").exists()


def test_config_file_flags_and_errors(tmp_path, case_ws, tiny_base):
    path = tmp_path / "train.toml"
    path.write_text('method = "standard"\nlora_r = 8\nlr = 1e-4\n')
    config = load_config(path, {"lr": 3e-4, "k": None})
    assert (config.method, config.lora_r, config.lr) == ("standard", 8, 3e-4)
    path.write_text('lora_rank = 8\n')
    with pytest.raises(CasebaseError, match="lora_rank"):
        load_config(path, {})
    with pytest.raises(CasebaseError, match="local"):
        run(case_ws, tiny_config(tiny_base, base="openai:http://x/v1#m"))
    with pytest.raises(CasebaseError, match="CUDA"):
        run(case_ws, tiny_config(tiny_base, quantize="4bit"))


def test_cli_train_and_merge(case_ws, tiny_base):
    from typer.testing import CliRunner

    from casebase.cli import app

    runner = CliRunner()
    w = str(case_ws.root)
    result = runner.invoke(app, ["train", "-w", w, "--method", "standard", "--base", f"local:{tiny_base}",
                                 "--max-steps", "2", "--eval-every", "2", "--max-length", "256", "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["counts"]["steps"] == 2 and manifest["method"] == "standard"
    result = runner.invoke(app, ["train", "-w", w, "--method", "standard", "--base", f"local:{tiny_base}"])
    assert result.exit_code == 2 and "--resume" in result.output
    result = runner.invoke(app, ["merge", str(case_ws.root / "models" / "nothing")])
    assert result.exit_code == 2 and "casebase train" in result.output


def test_every_setting_is_documented():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[1] / "docs" / "train.md").read_text()
    missing = [name for name in TrainConfig.model_fields if f"| `{name}` |" not in docs]
    assert not missing, f"document these settings in docs/train.md: {missing}"
