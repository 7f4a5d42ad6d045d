"""Training's distributed path: two processes under ``accelerate launch`` learn what one process learns, and
the launch configs in configs/ load and pass what casebase fills into them.

    .venv/bin/python -m pytest -q -m slow tests/test_train_distributed.py      # the launch test: ~40 s on 2 cores
    .venv/bin/python -m pytest -q tests/test_train_distributed.py              # the config tests only (fast)

Two CPU processes (DDP over gloo) with batch b each, one process with batch 2b, and one process with
batch b and two accumulated micro-batches see the same examples in every optimizer step, so with
dropout off they must write the same curve: same train loss (answer tokens of the global batch), same
val loss, same learning rate, same token count. What differs is only float summation order (DDP's
all-reduce averages two partial gradients; one process sums them in one matmul): float32 noise near
1e-7 relative on a loss near 10.8, far under the 1e-5 rounding of curves.csv (measured: the curves agree
to every decimal written). The tolerance, 2e-4 absolute, leaves room for that noise amplified by four
Adam steps and by another BLAS, and is 6 to 28 times below the gaps of the defects this test was written
against (train loss of rank 0 only, each rank's loss divided by its own answer-token count, the schedule
stepped once per process): 1.2e-3 in train loss and learning rate at step 1, 5.6e-3 in val loss at step 4.

On this accelerate (1.15) ``accelerate launch --cpu --num_processes 2`` starts ONE process (several
CPU processes need mpirun); ``--multi_gpu`` with ACCELERATE_USE_CPU=1 and no visible GPU starts two,
under torchrun, on gloo. The test asserts the manifest's process count, so a launcher that silently
runs one process cannot pass.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from casebase.errors import CasebaseError
from casebase.train import TrainConfig, load_config
from casebase.train.lora import _fill_deepspeed

REPO = Path(__file__).resolve().parents[1]
ACCELERATE = Path(sys.executable).with_name("accelerate")
TOLERANCE = 2e-4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(ws, base: Path, tmp_path: Path, name: str, processes: int, batch_size: int, grad_accum: int) -> dict:
    config = tmp_path / f"{name}.toml"
    config.write_text(f'method = "standard"\nmax_steps = 4\neval_every = 2\nsave_every = 4\nlr = 5e-3\n'
                      f'max_length = 256\nlora_r = 4\nlora_alpha = 8\nlora_dropout = 0.0\n'
                      f'batch_size = {batch_size}\ngrad_accum = {grad_accum}\n')
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", CUDA_VISIBLE_DEVICES="",
               ACCELERATE_USE_CPU="1", OMP_NUM_THREADS="1",
               HF_HOME=str(tmp_path / "hf-home"))  # no ~/.cache/huggingface/accelerate config of the user's
    train = ["-m", "casebase", "train", "-w", str(ws.root), "--base", f"local:{base}", "--config", str(config),
             "--name", name, "--json", "--quiet"]
    if processes == 1:
        command = [sys.executable, *train]
    else:
        command = [str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
                   "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
                   *train]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stderr[-3000:]
    out = ws.root / "models" / name
    manifest = json.loads((out / "manifest.json").read_text())
    with open(out / "curves.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {"manifest": manifest, "rows": rows}


def _curve(run: dict, column: str) -> list[float | None]:
    return [float(r[column]) if r[column] else None for r in run["rows"]]


@pytest.mark.slow
def test_two_processes_follow_the_one_process_curve(indexed_ws, tiny_base, tmp_path):
    if not ACCELERATE.exists():
        pytest.skip(f"accelerate's launcher not found beside {sys.executable}")
    ddp = _train(indexed_ws, tiny_base, tmp_path, "ddp", processes=2, batch_size=2, grad_accum=1)
    wide = _train(indexed_ws, tiny_base, tmp_path, "wide", processes=1, batch_size=4, grad_accum=1)
    accum = _train(indexed_ws, tiny_base, tmp_path, "accum", processes=1, batch_size=2, grad_accum=2)
    assert ddp["manifest"]["counts"]["processes"] == 2, "accelerate launch ran one process, not two"
    assert wide["manifest"]["counts"]["processes"] == accum["manifest"]["counts"]["processes"] == 1
    for other in (wide, accum):
        assert [r["step"] for r in ddp["rows"]] == [r["step"] for r in other["rows"]] == ["0", "1", "2", "3", "4"]
        for column in ("train_loss", "val_loss", "lr"):
            mine, theirs = _curve(ddp, column), _curve(other, column)
            assert [v is None for v in mine] == [v is None for v in theirs], column
            gaps = [abs(a - b) for a, b in zip(mine, theirs) if a is not None]
            assert max(gaps) <= TOLERANCE, f"{column}: DDP {mine} vs one process {theirs}"
        assert [r["tokens"] for r in ddp["rows"]] == [r["tokens"] for r in other["rows"]]  # every rank's tokens
        for key in ("val_start", "val_best", "train_last"):
            assert ddp["manifest"]["loss"][key] == pytest.approx(other["manifest"]["loss"][key], abs=TOLERANCE), key
    # The curve moved: equal curves of a model that did not learn would prove nothing.
    val = [v for v in _curve(ddp, "val_loss") if v is not None]
    assert val[-1] < val[0] - 10 * TOLERANCE


# --- the launch configs: fast, and without the deepspeed package (not installed here) ---------------------

# "auto" values that accelerate itself fills when it prepares a torch optimizer and scheduler with the model
# (accelerate.Accelerator._prepare_deepspeed); every other "auto" must be filled by casebase or it fails at start.
FILLED_BY_ACCELERATE = {"train_batch_size", "zero_optimization.reduce_bucket_size",
                        "zero_optimization.stage3_prefetch_bucket_size",
                        "zero_optimization.stage3_param_persistence_threshold"}


def _autos(config: dict, prefix: str = "") -> set[str]:
    found = set()
    for key, value in config.items():
        if isinstance(value, dict):
            found |= _autos(value, f"{prefix}{key}.")
        elif value == "auto":
            found.add(prefix + key)
    return found


def _under_deepspeed(ds_config):
    """A stand-in accelerator holding accelerate's real DeepSpeedPlugin (which needs no deepspeed to parse)."""
    from types import SimpleNamespace

    from accelerate.utils import DeepSpeedPlugin

    plugin = DeepSpeedPlugin(hf_ds_config=ds_config)
    plugin.set_mixed_precision("no")  # what configs/accelerate/*.yaml give: no mixed_precision key
    return SimpleNamespace(state=SimpleNamespace(deepspeed_plugin=plugin)), plugin


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "deepspeed").glob("*.json")), ids=lambda p: p.name)
def test_deepspeed_configs_take_what_casebase_fills(path):
    raw = json.loads(path.read_text())
    assert raw["zero_optimization"]["stage"] in (0, 1, 2, 3)
    assert not {"optimizer", "scheduler"} & raw.keys()  # casebase brings AdamW and its schedule
    accelerator, plugin = _under_deepspeed(str(path))
    config = TrainConfig(batch_size=3, max_grad_norm=0.5)
    _fill_deepspeed(accelerator, config)
    ds = plugin.deepspeed_config
    assert ds["train_micro_batch_size_per_gpu"] == 3 and ds["gradient_clipping"] == 0.5
    assert ds["gradient_accumulation_steps"] == 1
    assert _autos(ds) <= FILLED_BY_ACCELERATE, f"{path.name}: nobody fills {_autos(ds) - FILLED_BY_ACCELERATE}"


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "accelerate").glob("*.yaml")), ids=lambda p: p.name)
def test_accelerate_configs_load_and_point_at_files_that_exist(path, monkeypatch):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType

    monkeypatch.chdir(REPO)  # the files are written for `accelerate launch` run from the repository root
    cluster = load_config_from_file(str(path))
    assert cluster.num_machines == 1 and cluster.num_processes >= 2 and not cluster.use_cpu
    assert cluster.distributed_type in (DistributedType.MULTI_GPU, DistributedType.DEEPSPEED)
    assert path.read_text().startswith("# accelerate launch --config_file " + str(path.relative_to(REPO)))
    if cluster.distributed_type == DistributedType.DEEPSPEED:
        ds_file = Path(cluster.deepspeed_config["deepspeed_config_file"])
        assert ds_file.is_file() and ds_file.parent == Path("configs/deepspeed"), ds_file
        assert "gradient_accumulation_steps" not in cluster.deepspeed_config  # the loop owns accumulation
        _fill_deepspeed(_under_deepspeed(str(ds_file))[0], TrainConfig())
        # the training config docs/train.md pairs with it; the single-GPU one accumulates, which DeepSpeed refuses
        _fill_deepspeed(_under_deepspeed(str(ds_file))[0], load_config(Path("configs/train-deepspeed.toml"), {}))
        with pytest.raises(CasebaseError, match="grad_accum"):
            _fill_deepspeed(_under_deepspeed(str(ds_file))[0], load_config(Path("configs/train-gpu.toml"), {}))


def test_fill_deepspeed_refuses_what_the_loop_cannot_honour():
    accelerator, _ = _under_deepspeed({"zero_optimization": {"stage": 2}, "gradient_accumulation_steps": 4,
                                       "gradient_clipping": 2.0, "train_micro_batch_size_per_gpu": "auto",
                                       "optimizer": {"type": "AdamW"}})
    with pytest.raises(CasebaseError) as error:
        _fill_deepspeed(accelerator, TrainConfig(grad_accum=2))
    message = str(error.value)  # every problem at once, each with its fix
    for part in ("grad_accum = 2", "gradient_accumulation_steps = 4", "gradient_clipping = 2.0", "optimizer",
                 '"auto"', "zero2.json"):
        assert part in message, part
    accelerator, plugin = _under_deepspeed({"zero_optimization": {"stage": 2}, "train_micro_batch_size_per_gpu": 2})
    _fill_deepspeed(accelerator, TrainConfig(batch_size=2))  # a value equal to casebase's is fine
    assert plugin.deepspeed_config["gradient_clipping"] == TrainConfig().max_grad_norm
    from types import SimpleNamespace

    _fill_deepspeed(SimpleNamespace(state=SimpleNamespace()), TrainConfig())  # no DeepSpeed: nothing to do
