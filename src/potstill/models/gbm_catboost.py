"""CatBoost teachers from CatBoost's own ``.cbm`` files (no pickle).

The loss function stored in the model decides the problem type, as for the other GBMs
(:mod:`potstill.models.gbm`); a classifier is run through ``CatBoostClassifier`` so its
probabilities and class names (``classes_``, in the order of its outputs) are exactly the
library's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from potstill.errors import ModelError
from potstill.models.gbm import GBMBackend, check_objective, import_optional
from potstill.models.tree_embedding import DEFAULT_WIDTH
from potstill.models.trees import TreeCount, count_trees
from potstill.types import Problem

__all__ = ["CatBoostBackend"]

_CLASSIFIERS = ("Logloss", "CrossEntropy", "MultiClass", "MultiClassOneVsAll")
_REFUSED = ("MultiRMSE", "MultiLogloss", "MultiCrossEntropy", "RMSEWithUncertainty")
_RANKING = ("YetiRank", "PairLogit", "Query", "StochasticFilter", "StochasticRank", "LambdaMart")


def _problem(loss: str) -> str:
    if loss in _CLASSIFIERS:
        return "classification"
    if loss in _REFUSED:
        return "multi-output"
    return "ranking" if loss.startswith(_RANKING) else "regression"


def _load(catboost: Any, cls: Any, path: Path) -> Any:
    model = cls()
    try:
        model.load_model(str(path))
    except catboost.CatBoostError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise ModelError(f"CatBoost cannot load '{path}' as a model: {first}") from exc
    return model


class CatBoostBackend(GBMBackend):
    """A CatBoost model from its ``.cbm`` file."""

    kind = "catboost"
    library = "CatBoost"

    def __init__(self, path: Path, problem: Problem, leaf_width: int = DEFAULT_WIDTH) -> None:
        catboost = import_optional("catboost", "CatBoost teacher files (.cbm)")
        path = Path(path)
        loss = str(_load(catboost, catboost.CatBoost, path).get_all_params()["loss_function"])
        loss = loss.split(":")[0]
        check_objective("CatBoost", path, loss, _problem(loss), problem)
        cls = (
            catboost.CatBoostClassifier
            if problem == "classification"
            else catboost.CatBoostRegressor
        )
        model = _load(catboost, cls, path)
        categorical = list(model.get_cat_feature_indices())
        if categorical:
            raise ModelError(
                f"The CatBoost model '{path}' takes raw categorical values in columns "
                f"{categorical}; potstill gives a teacher numeric columns only. Retrain it on "
                "encoded columns, or export it to ONNX with the encoding inside."
            )
        super().__init__(path, problem, loss, len(model.feature_names_), leaf_width)
        self.model = model
        self._read_leaves(model)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        if self.problem == "classification":
            return np.asarray(self.model.predict_proba(X), dtype=np.float64)
        return np.asarray(self.model.predict(X), dtype=np.float64)

    def max_depth(self) -> int:
        return int(self.model.get_all_params().get("depth", 0))

    def trees(self) -> TreeCount | None:
        return count_trees(self.model)

    def class_labels(self) -> tuple[str, ...] | None:
        classes = getattr(self.model, "classes_", None)
        if self.problem != "classification" or classes is None or len(classes) == 0:
            return None
        return tuple(str(c) for c in classes)
