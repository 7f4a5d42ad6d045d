"""Fine-tuning: LoRA adapters, standard and retrieval-augmented (RAFT); see lora.py, data.py, merge.py."""

from casebase.train.config import TrainConfig, load_config
from casebase.train.merge import merge

__all__ = ["TrainConfig", "load_config", "model_dir", "run", "merge"]


def __getattr__(name: str):
    """``run`` and ``model_dir`` on first use: the training loop imports torch, and the CLI imports TrainConfig
    (its options' help) at every start."""
    if name in ("run", "model_dir"):
        from casebase.train import lora

        return getattr(lora, name)
    raise AttributeError(f"module 'casebase.train' has no attribute {name!r}")
