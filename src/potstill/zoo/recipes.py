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
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from potstill.errors import ConfigError, ModelError, missing_dependency
from potstill.events import Stage
from potstill.methods import build_objective
from potstill.models.arch.ensemble import DeepEnsemble
from potstill.models.arch.mlp import MLP
from potstill.models.arch.mobilenet import ImageClassifier, MobileNetV2, load_imagenet_weights
from potstill.models.export import load_model, save_model
from potstill.models.formats import read_architecture
from potstill.models.taps import TeacherTaps
from potstill.models.teacher import Teacher
from potstill.models.teacher_load import load_teacher
from potstill.models.text_length import minilm_length, with_max_length
from potstill.train.cache import content_hash
from potstill.train.config import TrainConfig
from potstill.train.distill import train
from potstill.types import Problem, Task
from potstill.zoo.cache import cached_build, default_cache_dir
from potstill.zoo.llm import llm_teacher_for_task
from potstill.zoo.spec import TeacherSpec
from potstill.zoo.text import TextTeacherRecipe, get_text_teacher, load_minilm, minilm_path

__all__ = ["ZOO_VERSION", "default_cache_dir", "file_teacher", "get_teacher"]

log = logging.getLogger(__name__)

#: Bump when a recipe's meaning changes, so cached teachers are not reused wrongly.
ZOO_VERSION = 2


def _fingerprint(
    system: str, task: Task, spec: TeacherSpec, seed: int, train_cfg: TrainConfig | None
) -> str:
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
    train_cfg: TrainConfig,
    stage: Stage | None = None,
) -> None:
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
    train_cfg: TrainConfig | None,
    cache_dir: Path | None = None,
    stage: Stage | None = None,
) -> tuple[Teacher, dict[str, object]]:
    """The system's teacher (trained now, or loaded from the cache) and how it was obtained.

    Training a teacher reports to ``stage`` (what is trained, then each epoch); a built-in
    torch recipe trains with ``train_cfg`` (a file teacher needs none)."""
    if spec.path is not None:
        return file_teacher(spec, task.problem), {"source": str(spec.path), "cached": False}
    if spec.llm is not None:
        return llm_teacher_for_task(system, task, spec.llm, cache_dir=cache_dir)
    if spec.arch == "minilm" and task.problem == "embedding":  # the sentence encoder as shipped
        encoder = load_minilm(max_length=minilm_length(spec.max_length))
        return Teacher.from_torch(encoder, problem="embedding", name="all-MiniLM-L6-v2"), {
            "source": str(minilm_path()),
            "cached": False,
            "note": "the pretrained sentence encoder as shipped (an embedding teacher is not "
            "fine-tuned)",
        }
    if spec.arch == "minilm":  # the packaged all-MiniLM-L6-v2, fine-tuned on the text task
        # the fleet's training threads (a process pool keeps them at 1 per worker)
        threads = train_cfg.threads if train_cfg is not None else 1
        recipe = TextTeacherRecipe(
            epochs=spec.epochs or 3, threads=threads, max_length=minilm_length(spec.max_length)
        )
        return get_text_teacher(
            system, task, seed=seed, recipe=recipe, cache_dir=cache_dir, stage=stage
        )
    return _recipe_teacher(system, task, spec, seed, train_cfg, cache_dir, stage)


def _recipe_teacher(
    system: str,
    task: Task,
    spec: TeacherSpec,
    seed: int,
    train_cfg: TrainConfig | None,
    cache_dir: Path | None,
    stage: Stage | None,
) -> tuple[Teacher, dict[str, object]]:
    """A built-in recipe's teacher: trained into the cache once, then loaded."""
    root = (cache_dir or default_cache_dir()) / "teachers"
    key = _fingerprint(system, task, spec, seed, train_cfg)
    folder = root / f"{system}-{spec.arch}-{key}"
    info: dict[str, object] = {
        "source": "built-in recipe",
        "arch": spec.arch,
        "cache_key": key,
        "cache_dir": str(folder),
    }

    def build(tmp: Path) -> None:
        _announce_training(root, system, spec.arch, key, stage)
        _train_into(tmp, task, spec, seed, train_cfg, stage)
        (tmp / "teacher.json").write_text(
            json.dumps({"arch": spec.arch, "key": key, "system": system})
        )

    info["cached"] = not cached_build(folder, build)
    return _load_recipe_teacher(folder, task, spec), info


def _announce_training(root: Path, system: str, arch: str, key: str, stage: Stage | None) -> None:
    stale = sorted(p.name for p in root.glob(f"{system}-{arch}-*")) if root.is_dir() else []
    log.info(
        "training teacher for %s (%s): no cached teacher with key %s%s",
        system,
        arch,
        key,
        f"; other versions kept: {', '.join(stale)}" if stale else "",
    )
    if stage is not None:
        stage.update(0, detail=f"training {arch}: no cached teacher with key {key}")
        stage.outcome = f"trained {arch} now (then cached)"


def _train_into(
    tmp: Path,
    task: Task,
    spec: TeacherSpec,
    seed: int,
    train_cfg: TrainConfig | None,
    stage: Stage | None,
) -> None:
    """Train the recipe and save it into ``tmp``."""
    if spec.arch == "xgboost":
        model = _train_xgboost(task, spec, seed)
        model.save_model(tmp / "model.ubj")  # type: ignore[attr-defined]
        return
    if train_cfg is None:
        raise ConfigError(
            f"The built-in '{spec.arch}' teacher trains with a training configuration; "
            "got none. Pass train_cfg (a TrainConfig)."
        )
    torch.manual_seed(seed)
    module = _build(spec, task)
    _train_torch(module, task, spec, seed, train_cfg, stage)
    save_model(module, tmp / "model")


def _load_recipe_teacher(folder: Path, task: Task, spec: TeacherSpec) -> Teacher:
    taps = TeacherTaps(spec.features, spec.embedding, spec.leaf_embedding)
    try:
        if spec.arch == "xgboost":
            return Teacher.from_sklearn(
                _load_xgboost(folder, task.problem),
                problem=task.problem,
                name=f"xgboost[{spec.n_estimators}x{spec.max_depth}]",
                leaf_width=spec.leaf_embedding,
            )
        module = load_model(folder / "model")
        module.eval()
        return Teacher.from_torch(
            module, problem=task.problem, name=f"{spec.arch}", features=taps.features,
            embedding=taps.embedding,
        )  # fmt: skip
    except (OSError, ValueError, KeyError, RuntimeError, ModelError) as exc:
        raise ModelError(
            f"The cached teacher in '{folder}' cannot be loaded ({exc}). Delete that folder to retrain it."
        ) from exc
