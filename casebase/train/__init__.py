"""Fine-tuning: LoRA adapters, standard and retrieval-augmented (RAFT); see lora.py, data.py, merge.py."""

from casebase.train.config import TrainConfig, load_config
from casebase.train.lora import model_dir, run
from casebase.train.merge import merge

__all__ = ["TrainConfig", "load_config", "model_dir", "run", "merge"]
