"""Training configuration: one pydantic model, its field descriptions are the documentation.

    casebase train --method hybrid --config my.toml       # TOML, YAML or JSON with any of these fields
    casebase train --method hybrid --max-steps 30 --lr 1e-4   # flags override the file

The resolved configuration is saved beside the adapter (``models/<name>/config.json``).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from casebase.errors import CasebaseError

METHODS = ("standard", "hybrid")


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["standard", "hybrid"] = Field("hybrid", description="standard: problem -> answer; hybrid (RAFT): "
                                                  "problem + k retrieved train cases -> answer.")
    base: str = Field("local", description="Base model: local (bundled SmolLM2-135M-Instruct) or local:PATH "
                      "(Hugging Face directory or .gguf file).")
    name: str | None = Field(None, description="Output directory name under models/ (default: the method).")
    # LoRA
    lora_r: int = Field(16, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA alpha (scale = alpha / r).")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: str | list[str] = Field("all-linear", description="Modules that get adapters: all-linear, or "
                                            "a list of names such as [q_proj, v_proj].")
    quantize: Literal["none", "4bit"] = Field("none", description="4bit = QLoRA (needs CUDA and bitsandbytes).")
    # data
    k: int = Field(3, ge=0, description="Retrieved cases in a hybrid prompt.")
    oracle_share: float = Field(0.8, ge=0, le=1, description="Share of hybrid examples whose context holds the "
                                "truly relevant case; the rest get distractors only.")
    oracle_depth: int = Field(20, ge=1, description="Neighbours searched for the relevant case (the one whose "
                              "solution is most similar to the example's).")
    max_length: int = Field(640, ge=64, description="Tokens per example; retrieved context is cut first, the "
                            "answer never.")
    # optimisation
    max_steps: int | None = Field(None, ge=1, description="Optimizer steps (default: epochs over the train set).")
    epochs: float = Field(1.0, gt=0, description="Passes over the train set when max_steps is not set.")
    batch_size: int = Field(2, ge=1, description="Examples per micro-batch (per device).")
    grad_accum: int = Field(1, ge=1, description="Micro-batches per optimizer step.")
    lr: float = Field(2e-4, gt=0, description="Peak learning rate (AdamW, linear warm-up then linear decay).")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Share of steps spent warming up.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory (long sequences, big models).")
    seed: int = Field(0, description="Seed for data order, RAFT sampling, dropout and LoRA init.")
    # validation and checkpoints
    eval_every: int = Field(10, ge=1, description="Steps between validation-loss evaluations.")
    val_limit: int = Field(24, ge=1, description="Validation examples scored per evaluation (the first N).")
    patience: int = Field(3, ge=1, description="Stop after this many evaluations without a better val loss.")
    save_every: int = Field(10, ge=1, description="Steps between checkpoints (for --resume).")
    keep_checkpoints: int = Field(2, ge=1, description="Checkpoints kept on disk.")

    @property
    def run_name(self) -> str:
        return self.name or self.method


def load_config(path: Path | None, overrides: dict) -> TrainConfig:
    """Defaults, then the file's values, then the flags that were given (None means not given)."""
    values: dict = {}
    if path is not None:
        values = read_config_file(path)
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig(**values)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise CasebaseError(f"bad training configuration: {problems}. Fields and defaults: "
                            f"`casebase train --help` or docs/train.md") from None


def read_config_file(path: Path) -> dict:
    if not path.is_file():
        raise CasebaseError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            return tomllib.loads(text)
        if path.suffix in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text) or {}
        return json.loads(text)
    except Exception as error:  # every parser has its own error type
        raise CasebaseError(f"could not read {path} ({path.suffix or 'JSON'}): {error}") from None
