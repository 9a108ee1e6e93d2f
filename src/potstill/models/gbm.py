"""Gradient-boosted tree teachers read by their own libraries: XGBoost, LightGBM, CatBoost.

A GBM saved in its library's own format (XGBoost ``.json``/``.ubj``, LightGBM ``.txt``,
CatBoost ``.cbm``) holds trees and the training objective, never code, so it is loaded
without pickle. Each backend is a black box exposing logits only (the log of its clipped
probabilities, as for scikit-learn). The objective decides the problem type: a model
trained for regression is refused on a classification task and the other way round, and
ranking objectives are refused. Probabilities are what the library's own ``predict_proba``
gives (the same link function, the best iteration when early stopping stored one).

A tree ensemble has no weights to count: its size is its trees, splits and leaves
(``Teacher.describe()["trees"]``, :mod:`potstill.models.trees`), and ``architecture()``
adds the objective and the depth of the deepest tree.
"""

from __future__ import annotations

import importlib
import json
from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from potstill._validation import check_scalar
from potstill.errors import ModelError, missing_dependency
from potstill.models.backends import TeacherBackend, _non_empty, scored_outputs
from potstill.models.tree_embedding import DEFAULT_WIDTH, TreeLeaves, tree_leaves
from potstill.types import Outputs, Problem

__all__ = [
    "GBMBackend",
    "LightGBMBackend",
    "XGBoostBackend",
    "check_objective",
    "import_optional",
]


def check_objective(
    library: str, path: Path, objective: str, model_problem: str, problem: Problem
) -> None:
    """Refuse a model whose objective does not fit the task's problem type."""
    if model_problem == problem:
        return
    if model_problem not in ("classification", "regression"):
        raise ModelError(
            f"The {library} model '{path}' was trained with objective '{objective}' "
            f"({model_problem}); potstill distils classification and regression teachers only."
        )
    raise ModelError(
        f"The {library} model '{path}' was trained with objective '{objective}', a "
        f"{model_problem} objective, but this system's task is {problem}. potstill infers the "
        "task from the target column: check that the target is the column the model predicts, "
        f"or set 'dataset.problem: {model_problem}' in the fleet YAML."
    )


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _binary(p: np.ndarray) -> np.ndarray:
    """P(class 1) as (n,) → the two columns [P(class 0), P(class 1)]."""
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    return np.stack([1.0 - p, p], axis=1)


class GBMBackend(TeacherBackend):
    """A tree ensemble run by its own library: probabilities (n, C) or values (n,), and its
    leaf-membership embedding (``leaf_width`` wide, 0: none) for relation methods."""

    library = "GBM"

    def __init__(
        self, path: Path, problem: Problem, objective: str, n_features: int, leaf_width: int
    ) -> None:
        super().__init__(problem)
        self.path, self.objective, self.n_features = Path(path), objective, n_features
        check_scalar(leaf_width, "leaf_width", owner="load_teacher", ge=0, integer=True)
        self.leaf_width = leaf_width
        self.leaves: TreeLeaves | None = None

    def _read_leaves(self, model: Any) -> None:
        """Expose ``model``'s leaf embedding (its booster, or CatBoost model) if asked."""
        self.leaves = tree_leaves(model) if self.leaf_width else None

    @abstractmethod
    def _predict(self, X: np.ndarray) -> np.ndarray:
        """Probabilities (n, C) for classification, values (n,) for regression."""

    @abstractmethod
    def max_depth(self) -> int:
        """Depth of the deepest tree (a lone leaf has depth 0)."""

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({"logits", "embedding"} if self.leaves else {"logits"})

    def embedding_layer_name(self) -> str | None:
        return "leaves" if self.leaves else None

    def _checked(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ModelError(
                f"The {self.library} model '{self.path}' takes {self.n_features} feature "
                f"columns, but the data has {X.shape[1] if X.ndim == 2 else X.shape}. Give the "
                "columns the model was trained on, in the same order."
            )
        return X

    def _scores(self, X: np.ndarray) -> np.ndarray:
        out = np.asarray(self._predict(self._checked(X)), dtype=np.float64)
        return out.reshape(-1) if self.problem == "regression" else out

    def outputs(self, x: torch.Tensor) -> Outputs:
        rows = x.detach().cpu().numpy()
        return scored_outputs(self._scores(rows), self.problem, self._checked(rows),
                              self.leaves, self.leaf_width, x.device)  # fmt: skip

    def predict_scores(self, X: np.ndarray, batch_size: int) -> np.ndarray:
        X = _non_empty(X)
        return np.concatenate(
            [self._scores(X[i : i + batch_size]) for i in range(0, len(X), batch_size)]
        )

    def predict_fn(self) -> Callable[[np.ndarray], np.ndarray]:
        return self._predict

    def architecture(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "library": self.library,
            "path": str(self.path),
            "objective": self.objective,
            "n_features": self.n_features,
            "max_depth": self.max_depth(),
            **({"leaf_embedding": self.leaves.describe(self.leaf_width)} if self.leaves else {}),
        }


# ---------------------------------------------------------------------- XGBoost

_XGB_CLASSIFIERS = ("binary:logistic", "binary:logitraw", "multi:softprob", "multi:softmax")


def _xgb_problem(objective: str) -> str:
    if objective.startswith(("binary:", "multi:")):
        return "classification"
    return "ranking" if objective.startswith("rank:") else "regression"


def _depth(left: list[int], right: list[int]) -> int:
    """Depth of a tree stored as child-index arrays (-1: leaf)."""
    deepest, stack = 0, [(0, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if left[node] != -1:
            stack += [(left[node], depth + 1), (right[node], depth + 1)]
    return deepest


def _lgb_depth(node: dict[str, Any]) -> int:
    """Depth of a LightGBM ``tree_structure`` (nested dicts with left/right children)."""
    deepest, stack = 0, [(node, 0)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        stack += [(current[s], depth + 1) for s in ("left_child", "right_child") if s in current]
    return deepest


def _refuse_non_xgboost_json(path: Path) -> None:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(
            f"'{path}' is not valid JSON ({exc}). potstill reads a .json teacher as an XGBoost "
            "model saved with save_model('model.json')."
        ) from exc
    if not (isinstance(content, dict) and isinstance(content.get("learner"), dict)):
        keys = sorted(content)[:8] if isinstance(content, dict) else type(content).__name__
        raise ModelError(
            f"'{path}' is a JSON file but not an XGBoost model: it has no 'learner' section "
            f"(top level: {keys}). potstill reads a .json teacher as an XGBoost model saved with "
            "save_model('model.json'); give an ONNX, TorchScript or potstill model instead."
        )


class XGBoostBackend(GBMBackend):
    """An XGBoost ``Booster`` from its own ``.json`` / ``.ubj`` file."""

    kind = "xgboost"
    library = "XGBoost"

    def __init__(self, path: Path, problem: Problem, leaf_width: int = DEFAULT_WIDTH) -> None:
        xgboost = import_optional("xgboost", "XGBoost teacher files (.json, .ubj)")
        path = Path(path)
        if path.suffix.lower() == ".json":
            _refuse_non_xgboost_json(path)
        booster = xgboost.Booster()
        try:
            booster.load_model(str(path))
        except xgboost.core.XGBoostError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
            raise ModelError(f"XGBoost cannot load '{path}' as a model: {first}") from exc
        learner = json.loads(booster.save_config())["learner"]
        objective = str(learner["objective"]["name"])
        check_objective("XGBoost", path, objective, _xgb_problem(objective), problem)
        if problem == "classification" and objective not in _XGB_CLASSIFIERS:
            raise ModelError(
                f"The XGBoost model '{path}' uses objective '{objective}', which predicts hard "
                f"labels without probabilities. Retrain with one of {list(_XGB_CLASSIFIERS)}."
            )
        params = learner["learner_model_param"]
        if int(params.get("num_target", 1)) > 1:
            raise ModelError(
                f"The XGBoost model '{path}' predicts {params['num_target']} targets; potstill "
                "distils single-output regression teachers."
            )
        super().__init__(path, problem, objective, int(booster.num_features()), leaf_width)
        self.booster, self.num_class = booster, int(params.get("num_class", 0))
        self._read_leaves(booster)
        best = booster.attr("best_iteration")
        self.iteration_range = (0, int(best) + 1) if best is not None else (0, 0)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        margin = self.objective in ("binary:logitraw", "multi:softmax")
        out = self.booster.inplace_predict(
            X, iteration_range=self.iteration_range, predict_type="margin" if margin else "value"
        )
        out = np.asarray(out, dtype=np.float64)
        if self.problem == "regression":
            return out
        if self.objective == "binary:logitraw":
            return _binary(1.0 / (1.0 + np.exp(-out)))
        if self.objective == "multi:softmax":
            return _softmax(out.reshape(len(X), -1))
        return out if out.ndim == 2 else _binary(out)

    def max_depth(self) -> int:
        booster = json.loads(bytes(self.booster.save_raw("json")))["learner"]["gradient_booster"]
        trees = booster.get("gbtree", booster).get("model", {}).get("trees", [])  # dart wraps
        return max((_depth(t["left_children"], t["right_children"]) for t in trees), default=0)


# ---------------------------------------------------------------------- LightGBM

_LGB_CLASSIFIERS = ("binary", "multiclass", "multiclassova", "cross_entropy")
_LGB_REFUSED = ("lambdarank", "rank_xendcg", "cross_entropy_lambda", "custom", "none")


def _lgb_problem(objective: str) -> str:
    if objective in _LGB_CLASSIFIERS:
        return "classification"
    return "ranking or custom" if objective in _LGB_REFUSED else "regression"


class LightGBMBackend(GBMBackend):
    """A LightGBM ``Booster`` from its own text model file (``Booster.save_model``)."""

    kind = "lightgbm"
    library = "LightGBM"

    def __init__(self, path: Path, problem: Problem, leaf_width: int = DEFAULT_WIDTH) -> None:
        lightgbm = import_optional("lightgbm", "LightGBM teacher files (.txt)")
        path = Path(path)
        with path.open("rb") as fh:
            head = fh.read(5)
        if head != b"tree\n":
            raise ModelError(
                f"'{path}' is not a LightGBM model: a LightGBM text model starts with the line "
                "'tree' (Booster.save_model). potstill reads a .txt teacher as LightGBM."
            )
        try:
            booster = lightgbm.Booster(model_file=str(path))
        except lightgbm.basic.LightGBMError as exc:
            raise ModelError(f"LightGBM cannot load '{path}' as a model: {exc}") from exc
        dump = booster.dump_model()
        objective = str(dump["objective"]).split()[0]
        check_objective("LightGBM", path, objective, _lgb_problem(objective), problem)
        super().__init__(path, problem, objective, int(booster.num_feature()), leaf_width)
        self.booster = booster
        self._read_leaves(booster)
        self._depth = max((_lgb_depth(t["tree_structure"]) for t in dump["tree_info"]), default=0)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        out = np.asarray(self.booster.predict(X), dtype=np.float64)
        if self.problem == "regression":
            return out
        if out.ndim == 1:  # binary / cross_entropy: P(class 1)
            return _binary(out)
        if self.objective == "multiclassova":  # one-vs-all sigmoids do not sum to 1
            return np.asarray(out / out.sum(axis=1, keepdims=True))
        return out

    def max_depth(self) -> int:
        return self._depth


def import_optional(module: str, purpose: str) -> Any:
    """Import a library of the ``formats`` extra, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise missing_dependency(package, extra="formats", purpose=purpose) from None
