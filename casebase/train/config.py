"""Training configuration: one pydantic model, its field descriptions are the documentation.

    casebase train --method hybrid --config my.toml       # TOML, YAML or JSON with any of these fields
    casebase train --method hybrid --max-steps 30 --lr 1e-4   # flags override the file

The resolved configuration is saved beside the adapter (``models/<name>/config.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_serializer, field_validator

from casebase import config as stage_config
from casebase.config import StageConfig

METHODS = ("standard", "hybrid")


class TrainConfig(StageConfig):

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
    extra: list[Path] | Path | None = Field(None, description="Extra chat-example JSONL files trained on beside "
                                            "train.jsonl, such as agents' accepted and edited answers from `casebase "
                                            "export-feedback` (their prompts are used as written; never validated on).")
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

    @field_validator("extra", mode="before")
    @classmethod
    def _extra_as_list(cls, value):
        paths = [value] if isinstance(value, (str, Path)) else (value or None)
        return None if paths is None else [Path(p).expanduser().resolve() for p in paths]  # rerun from anywhere

    @field_serializer("extra")
    def _extra_as_text(self, value):  # config.json and checkpoints hold plain strings
        return None if value is None else [str(p) for p in value]

    @property
    def extra_files(self) -> list[Path]:
        return list(self.extra or [])


def load_config(path: Path | None, overrides: dict) -> TrainConfig:
    """Defaults, then the file's values, then the flags that were given (None means not given)."""
    return stage_config.load_config(TrainConfig, path, overrides, "train")


def read_config_file(path: Path) -> dict[str, Any]:
    return stage_config.read_config_file(path)
