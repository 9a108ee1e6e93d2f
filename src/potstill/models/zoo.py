"""The built-in "production" teachers: trained on first use, cached, never silently retrained.

A teacher is the expensive model whose serving cost motivates distillation: a deep
ensemble of wide MLPs, a gradient-boosted ensemble (a black box), or an ImageNet
MobileNetV2 fine-tuned on the task. It is trained once, seeded, and stored under the
user's cache directory in a folder named by a content hash of (recipe, training data,
seed, zoo version). A changed recipe or dataset gives a new hash and a new teacher —
logged (at INFO: nothing is wrong) and reported to the run's teacher stage, never
overwriting the old one; an unchanged one is always reused.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from potstill.errors import ConfigError, ModelError, missing_dependency
from potstill.events import Stage
from potstill.models.ensemble import DeepEnsemble
from potstill.models.export import load_model, save_model
from potstill.models.formats import read_architecture
from potstill.models.mlp import MLP
from potstill.models.mobilenet import ImageClassifier, MobileNetV2, load_imagenet_weights
from potstill.models.taps import TeacherTaps
from potstill.models.teacher import Teacher, load_teacher
from potstill.models.text_length import minilm_length, with_max_length
from potstill.models.tree_embedding import DEFAULT_WIDTH
from potstill.types import Problem, Task

__all__ = ["ZOO_VERSION", "TeacherSpec", "default_cache_dir", "file_teacher", "get_teacher"]

log = logging.getLogger(__name__)

#: Bump when a recipe's meaning changes, so cached teachers are not reused wrongly.
ZOO_VERSION = 2


class TeacherSpec(BaseModel):
    """The production model of a system: a built-in recipe, or a file the user supplies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Literal["ensemble", "mlp", "xgboost", "mobilenet_v2", "minilm"] = Field(
        "ensemble",
        description="Built-in recipe: deep MLP ensemble, single MLP, XGBoost (black box), "
        "MobileNetV2 (images) or MiniLM (text: all-MiniLM-L6-v2, fine-tuned for "
        "classification, as shipped for an embedding system).",
    )
    path: Path | None = Field(
        None,
        description="A saved teacher (used instead of a built-in recipe): ONNX, TorchScript, "
        "XGBoost .json/.ubj, LightGBM .txt, CatBoost .cbm, scikit-learn .skops, a potstill or "
        "Hugging Face folder, weights (.pt/.safetensors) with 'architecture', or a pickle "
        "with 'trust_pickle'.",
    )
    trust_pickle: bool = Field(
        False, description="Allow a joblib/pickle teacher file (executes code on load)."
    )
    architecture: Path | None = Field(
        None,
        description="With a weights-only 'path' (.pt state dict, .safetensors): a JSON file "
        "holding the model's spec, e.g. json.dump(MLP(...).spec(), f).",
    )
    allow_weak: bool = Field(
        False,
        description="Proceed when the teacher scores no better than a trivial predictor "
        "(majority class / mean) on the labelled rows; recorded in the record.",
    )
    hidden: list[int] = Field(
        default_factory=lambda: [512, 512, 256], description="MLP hidden widths."
    )
    members: int = Field(5, ge=2, le=64, description="Ensemble members.")
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout in the MLP blocks.")
    n_estimators: int = Field(400, ge=1, description="XGBoost trees.")
    max_depth: int = Field(6, ge=1, le=32, description="XGBoost tree depth.")
    pretrained: bool = Field(
        True, description="MobileNetV2: start from the packaged ImageNet weights."
    )
    input_size: int = Field(
        32, ge=16, le=224, description="MobileNetV2: images are resized to this size."
    )
    epochs: int | None = Field(
        None, ge=1, description="Training epochs for the teacher (default: the fleet's)."
    )
    features: list[str] | None = Field(
        None,
        description="Hidden features for feature/relation methods: tensor names of an ONNX "
        "teacher or layer names of a torch one ('potstill inspect TEACHER' lists them). "
        "Default: evenly spaced hidden activations (ONNX, at most 8) or the model's own "
        "hidden layers; [] for logits only.",
    )
    embedding: str | None = Field(
        None,
        description="Tensor (ONNX) or layer (torch) used as the embedding by relation methods. "
        "Default: the input of the output layer (ONNX), or the model's own embedding layer.",
    )
    leaf_embedding: int = Field(
        DEFAULT_WIDTH,
        ge=0,
        description="Tree ensembles (scikit-learn forests and gradient boosting, XGBoost, "
        "LightGBM, CatBoost): width of the leaf-membership embedding that relation methods "
        "distil (Breiman proximity, projected); 0 for logits only.",
    )
    input_shape: list[int] | None = Field(
        None,
        min_length=1,
        max_length=3,
        description="Shape of one input the teacher file takes, without the batch axis: "
        "[C, H, W] for a CNN in (N, C, H, W) layout (e.g. [1, 28, 28]), [d] for flat rows. "
        "Default: the shape an ONNX file declares, else the data's. Flat rows are reshaped to "
        "single-channel images (and back) when that is unambiguous; otherwise refused.",
    )
    max_length: int | None = Field(
        None,
        ge=2,
        le=100_000,
        description="Text systems: tokens each text is padded/cut to. Default: the length "
        "recorded with the teacher (potstill's own record, a sentence-transformers "
        "max_seq_length, the tokenizer's model_max_length if sane, else the model's "
        "max_position_embeddings), else 128. The record says which length and where from.",
    )

    @field_validator("input_shape")
    @classmethod
    def _positive(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and min(value) < 1:
            raise ValueError(f"must hold positive sizes, e.g. [1, 28, 28] (got {value})")
        return value

    @model_validator(mode="after")
    def _file_only(self) -> TeacherSpec:
        if self.input_shape is not None and self.path is None:
            raise ValueError(
                f"'input_shape' describes a teacher file's inputs; give 'path' too, or remove "
                f"it (a built-in recipe is built for the data; got input_shape={self.input_shape})"
            )
        if self.max_length is not None and self.path is None and self.arch != "minilm":
            raise ValueError(
                f"'max_length' applies to text teachers (a Hugging Face 'path' or arch: minilm); "
                f"got arch={self.arch!r} without path"
            )
        return self


def default_cache_dir() -> Path:
    """``$POTSTILL_CACHE`` or the platform's user cache directory."""
    env = os.environ.get("POTSTILL_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("potstill"))


def _fingerprint(system: str, task: Task, spec: TeacherSpec, seed: int, train_cfg: object) -> str:
    from potstill.train.cache import content_hash

    # What the teacher exposes, how a file teacher is checked and how it reads its inputs
    # (input_shape, max_length) do not change the trained teacher: not part of its key.
    exposed = {"features", "embedding", "leaf_embedding", "allow_weak"}
    read = {"input_shape", "max_length"}
    recipe = spec.model_dump(
        mode="json", exclude={"path", "trust_pickle", "architecture", *exposed, *read}
    )
    return content_hash(
        ZOO_VERSION, system, recipe, seed, repr(train_cfg), task.train.X, task.train.y
    )[:16]


def _build(spec: TeacherSpec, task: Task) -> torch.nn.Module:
    n_out = task.n_outputs
    if spec.arch == "mobilenet_v2":
        backbone = MobileNetV2(width_mult=1.0)
        if spec.pretrained:
            load_imagenet_weights(backbone)
        in_ch = int(task.input_shape[0])
        return ImageClassifier(
            backbone, num_classes=n_out, input_size=spec.input_size, in_channels=in_ch
        )
    in_features = int(np.prod(task.input_shape))
    if spec.arch == "mlp":
        return MLP(in_features, spec.hidden, n_out, dropout=spec.dropout)
    members = []
    for _ in range(spec.members):
        members.append(MLP(in_features, spec.hidden, n_out, dropout=spec.dropout))
    return DeepEnsemble(members, problem=task.problem)


def _train_torch(
    module: torch.nn.Module,
    task: Task,
    spec: TeacherSpec,
    seed: int,
    train_cfg: object,
    stage: Stage | None = None,
) -> None:
    from potstill.methods import build_objective
    from potstill.train.config import TrainConfig
    from potstill.train.distill import train

    assert isinstance(train_cfg, TrainConfig)
    cfg = train_cfg.model_copy(update={"epochs": spec.epochs}) if spec.epochs else train_cfg
    if isinstance(module, DeepEnsemble):
        # Members are trained independently (different seeds): that is what makes a deep ensemble.
        for i, member in enumerate(module.members):
            item = f"member {i + 1}/{len(module.members)}"
            train(
                member,
                task,
                objective=build_objective([], label_weight=1.0, problem=task.problem),
                config=cfg,
                seed=seed * 1000 + i,
                description=f"teacher {item}",
                stage=None if stage is None else replace(stage, item=item),
            )
        return
    train(
        module,
        task,
        objective=build_objective([], label_weight=1.0, problem=task.problem),
        config=cfg,
        seed=seed,
        description="teacher",
        stage=stage,
    )


def _train_xgboost(task: Task, spec: TeacherSpec, seed: int) -> object:
    try:
        import xgboost
    except ImportError:
        raise missing_dependency(
            "xgboost", extra="fleet", purpose="the gradient-boosted teacher"
        ) from None
    common = dict(
        n_estimators=spec.n_estimators,
        max_depth=spec.max_depth,
        learning_rate=0.05,
        subsample=0.8,
        colsample_bytree=0.8,
        random_state=seed,
        n_jobs=2,
    )
    model = (
        xgboost.XGBClassifier(**common)
        if task.problem == "classification"
        else xgboost.XGBRegressor(**common)
    )
    model.fit(task.train.X, task.train.y)
    return model


def _load_xgboost(folder: Path, problem: str) -> object:
    import xgboost

    model = xgboost.XGBClassifier() if problem == "classification" else xgboost.XGBRegressor()
    model.load_model(folder / "model.ubj")  # XGBoost's own format: no pickle, no code
    return model


def _checked_taps(teacher: Teacher, spec: TeacherSpec) -> Teacher:
    """Refuse ``teacher.features`` / ``teacher.embedding`` a teacher did not honour."""
    ignored = [
        field
        for field, asked, got in (
            ("features", bool(spec.features), bool(teacher.hidden_layer_names())),
            (
                "embedding",
                spec.embedding is not None,
                teacher.embedding_layer_name() == spec.embedding,
            ),
        )
        if asked and not got
    ]
    if ignored:
        raise ConfigError(
            f"teacher.{ignored[0]} names hidden tensors or layers, but the {teacher.backend} "
            f"teacher '{spec.path}' cannot expose them by name (ONNX files and torch modules "
            f"with hooks can; 'potstill inspect' lists them). Remove teacher.{ignored[0]}."
        )
    return teacher


def file_teacher(spec: TeacherSpec, problem: Problem) -> Teacher:
    """The teacher file ``spec.path``, exposing the taps it names and reading ``max_length``
    tokens when asked."""
    assert spec.path is not None
    taps = TeacherTaps(spec.features, spec.embedding, spec.leaf_embedding)
    arch = read_architecture(spec.architecture) if spec.architecture is not None else None
    teacher = load_teacher(
        spec.path, problem=problem, trust_pickle=spec.trust_pickle, architecture=arch, taps=taps
    )
    return with_max_length(_checked_taps(teacher, spec), spec.max_length, problem, spec.path)


def get_teacher(
    system: str,
    task: Task,
    spec: TeacherSpec,
    *,
    seed: int,
    train_cfg: object,
    cache_dir: Path | None = None,
    stage: Stage | None = None,
) -> tuple[Teacher, dict[str, object]]:
    """The system's teacher (trained now, or loaded from the cache) and how it was obtained.

    Training a teacher reports to ``stage`` (what is trained, then each epoch)."""
    taps = TeacherTaps(spec.features, spec.embedding, spec.leaf_embedding)
    if spec.path is not None:
        return file_teacher(spec, task.problem), {"source": str(spec.path), "cached": False}
    if spec.arch == "minilm" and task.problem == "embedding":  # the sentence encoder as shipped
        from potstill.models.hf_zoo import load_minilm, minilm_path

        encoder = load_minilm(max_length=minilm_length(spec.max_length))
        return Teacher.from_torch(encoder, problem="embedding", name="all-MiniLM-L6-v2"), {
            "source": str(minilm_path()),
            "cached": False,
            "note": "the pretrained sentence encoder as shipped (an embedding teacher is not "
            "fine-tuned)",
        }
    if spec.arch == "minilm":  # the packaged all-MiniLM-L6-v2, fine-tuned on the text task
        from potstill.models.hf_zoo import TextTeacherRecipe, get_text_teacher

        # the fleet's training threads (a process pool keeps them at 1 per worker)
        threads = int(getattr(train_cfg, "threads", 1))
        recipe = TextTeacherRecipe(
            epochs=spec.epochs or 3, threads=threads, max_length=minilm_length(spec.max_length)
        )
        return get_text_teacher(
            system, task, seed=seed, recipe=recipe, cache_dir=cache_dir, stage=stage
        )
    root = (cache_dir or default_cache_dir()) / "teachers"
    key = _fingerprint(system, task, spec, seed, train_cfg)
    folder = root / f"{system}-{spec.arch}-{key}"
    info: dict[str, object] = {
        "source": "built-in recipe",
        "arch": spec.arch,
        "cache_key": key,
        "cache_dir": str(folder),
    }
    if not (folder / "teacher.json").is_file():
        stale = (
            sorted(p.name for p in root.glob(f"{system}-{spec.arch}-*")) if root.is_dir() else []
        )
        log.info(
            "training teacher for %s (%s): no cached teacher with key %s%s",
            system,
            spec.arch,
            key,
            f"; other versions kept: {', '.join(stale)}" if stale else "",
        )
        if stage is not None:
            stage.update(0, detail=f"training {spec.arch}: no cached teacher with key {key}")
            stage.outcome = f"trained {spec.arch} now (then cached)"
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{system}-"))
        try:
            if spec.arch == "xgboost":
                model = _train_xgboost(task, spec, seed)
                model.save_model(tmp / "model.ubj")  # type: ignore[attr-defined]
            else:
                torch.manual_seed(seed)
                module = _build(spec, task)
                _train_torch(module, task, spec, seed, train_cfg, stage)
                save_model(module, tmp / "model")
            (tmp / "teacher.json").write_text(
                json.dumps({"arch": spec.arch, "key": key, "system": system})
            )
            if folder.exists():  # a concurrent run finished first: keep its teacher
                shutil.rmtree(tmp)
            else:
                os.replace(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        info["cached"] = False
    else:
        info["cached"] = True
    try:
        if spec.arch == "xgboost":
            teacher = Teacher.from_sklearn(
                _load_xgboost(folder, task.problem),
                problem=task.problem,
                name=f"xgboost[{spec.n_estimators}x{spec.max_depth}]",
                leaf_width=spec.leaf_embedding,
            )
        else:
            module = load_model(folder / "model")
            module.eval()
            teacher = Teacher.from_torch(
                module, problem=task.problem, name=f"{spec.arch}", features=taps.features,
                embedding=taps.embedding,
            )  # fmt: skip
    except (OSError, ValueError, KeyError, RuntimeError, ModelError) as exc:
        raise ModelError(
            f"The cached teacher in '{folder}' cannot be loaded ({exc}). Delete that folder to retrain it."
        ) from exc
    return teacher, info
