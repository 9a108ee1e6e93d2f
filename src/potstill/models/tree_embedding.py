"""A representation of tree-ensemble teachers for relation methods: leaf membership.

A tree ensemble has no hidden layers, but it does place every row in one leaf per tree.
Two rows that share many leaves are treated alike by the model: the fraction of trees in
which they share a leaf is Breiman's random-forest *proximity* (Breiman, 2001, "Random
Forests", Machine Learning 45, §11; used there for clustering, outliers and imputation).

:func:`leaf_embedding` turns the leaf indices of ``n`` rows (one column per tree) into
vectors whose geometry *is* that proximity: the one-hot membership of each tree,
concatenated and scaled by ``1/sqrt(T)``, gives ``<e_a, e_b> = proximity(a, b)`` and
``||e_a - e_b||² = 2 (1 - proximity(a, b))``. When the one-hot width (the sum of leaf-id
slots over the trees) exceeds ``width``, the vectors are projected to ``width``
dimensions by a seeded sparse Johnson–Lindenstrauss transform (feature hashing with
``HASHES`` signed buckets per entry; Kane & Nelson 2014), which keeps inner products and
distances in expectation (error ~ 1/sqrt(width)) without storing a projection matrix.

Relation methods (RKD distance/angle, PKT, CC, CRD) then match the student's embedding
geometry to the teacher's leaf geometry. Proximity itself is classical, and DeepGBM (Ke et
al., KDD 2019) distils a GBDT's leaf indices into a network row by row; matching their
pairwise geometry with relation losses is, as far as we found, new here.

:func:`tree_leaves` reads the leaf indices from the estimators users have: scikit-learn
forests, extra trees, gradient boosting and single trees (``apply``), XGBoost
(``apply`` / ``pred_leaf=True``), LightGBM (``pred_leaf=True``), CatBoost
(``calc_leaf_indexes``), and a scikit-learn ``Pipeline`` ending in one of them.
scikit-learn's HistGradientBoosting has no ``apply`` and is not supported
(:func:`leaf_support` says why).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from potstill._validation import check_scalar
from potstill.errors import DataError

__all__ = ["DEFAULT_WIDTH", "HASHES", "TreeLeaves", "leaf_embedding", "leaf_support", "tree_leaves"]

#: Width of the projected leaf embedding (the student's embedding width need not match).
DEFAULT_WIDTH = 256
#: Signed buckets per (tree, leaf) in the sparse projection.
HASHES = 4
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijective, well-mixed hash of uint64 values."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def _one_hot(leaves: np.ndarray, slots: Sequence[int]) -> np.ndarray:
    n, t = leaves.shape
    offsets = np.concatenate([[0], np.cumsum(slots)[:-1]]).astype(np.int64)
    out = np.zeros((n, int(np.sum(slots))), dtype=np.float32)
    out[np.repeat(np.arange(n), t), (leaves + offsets).ravel()] = 1.0 / np.sqrt(t)
    return out


def _hashed(leaves: np.ndarray, width: int, seed: int) -> np.ndarray:
    n, t = leaves.shape
    keys = (np.arange(t, dtype=np.uint64) << np.uint64(32)) + leaves.astype(np.uint64)
    rows = np.repeat(np.arange(n, dtype=np.int64), t)
    index, sign = [], []
    for j in range(HASHES):
        salt = _mix(np.asarray([seed * HASHES + j], dtype=np.uint64))[0]
        h = _mix(keys ^ salt).ravel()
        index.append(rows * width + ((h >> np.uint64(32)) % np.uint64(width)).astype(np.int64))
        sign.append(np.where((h & np.uint64(1)) == 1, 1.0, -1.0))
    flat = np.bincount(
        np.concatenate(index), weights=np.concatenate(sign), minlength=n * width
    ) / np.sqrt(t * HASHES)
    return flat.reshape(n, width).astype(np.float32)


def leaf_embedding(
    leaves: np.ndarray,
    n_leaves_per_tree: Sequence[int] | None = None,
    *,
    width: int = DEFAULT_WIDTH,
    seed: int = 0,
) -> np.ndarray:
    """Per-row vectors (n, D) whose inner products are the rows' leaf co-membership.

    ``leaves`` is (n, T): the leaf (or node) id of each row in each tree, ids of tree ``t``
    in ``[0, n_leaves_per_tree[t])``. When those counts are given and sum to at most
    ``width``, the exact scaled one-hot vectors are returned (D = the sum); otherwise the
    seeded sparse projection to ``D = width``. The result depends only on the ids, the
    counts, ``width`` and ``seed`` — never on the other rows.
    """
    owner = "leaf_embedding"
    check_scalar(width, "width", owner=owner, ge=1, integer=True)
    check_scalar(seed, "seed", owner=owner, ge=0, integer=True)
    arr = np.asarray(leaves)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] == 0 or not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"{owner} needs leaf ids shaped (n, trees). Got shape {arr.shape}.")
    ids = arr.astype(np.int64)
    if np.any(ids != arr) or (ids.size and ids.min() < 0):
        raise DataError(f"{owner} needs non-negative integer leaf ids.")
    if n_leaves_per_tree is not None:
        slots = [int(s) for s in n_leaves_per_tree]
        if len(slots) != ids.shape[1] or (ids.size and np.any(ids.max(axis=0) >= slots)):
            raise DataError(
                f"{owner}: {ids.shape[1]} trees of leaf ids do not fit n_leaves_per_tree "
                f"({len(slots)} counts, each above the tree's largest id)."
            )
        if sum(slots) <= width:
            return _one_hot(ids, slots)
    return _hashed(ids, width, seed)


@dataclass(frozen=True)
class TreeLeaves:
    """How to read one ensemble's leaves: ``leaves(X)`` → (n, T) ids; ``slots[t]`` bounds
    the ids of tree ``t``; ``n_leaves[t]`` is its number of leaves."""

    library: str
    leaves: Callable[[np.ndarray], np.ndarray]
    slots: list[int]
    n_leaves: list[int]

    def embedding(self, X: np.ndarray, width: int = DEFAULT_WIDTH) -> np.ndarray:
        """:func:`leaf_embedding` of the rows of ``X``."""
        return leaf_embedding(self.leaves(X), self.slots, width=width)

    def describe(self, width: int) -> dict[str, Any]:
        """JSON summary for a teacher's record: trees, leaves, embedding width."""
        return {"trees": len(self.slots), "leaves": int(sum(self.n_leaves)), "width": width}


def _sklearn_trees(est: Any) -> list[Any] | None:
    if hasattr(est, "tree_"):
        return [est]
    trees = getattr(est, "estimators_", None)
    if trees is None or not callable(getattr(est, "apply", None)):
        return None
    flat = list(np.asarray(trees, dtype=object).ravel())
    return flat if flat and all(hasattr(t, "tree_") for t in flat) else None


def _xgboost(model: Any) -> TreeLeaves | None:
    import xgboost

    booster = model.get_booster() if hasattr(model, "get_booster") else model
    if not callable(getattr(booster, "save_raw", None)):
        return None
    gbm = json.loads(bytes(booster.save_raw("json")))["learner"]["gradient_booster"]
    trees = (gbm.get("model") or gbm.get("gbtree", {}).get("model") or {}).get("trees")
    if not trees:  # gblinear: a linear model, no trees
        return None
    slots = [int(tree["tree_param"]["num_nodes"]) for tree in trees]

    def leaves(X: np.ndarray) -> np.ndarray:
        out = booster.predict(xgboost.DMatrix(np.asarray(X)), pred_leaf=True)
        return np.asarray(out).reshape(len(X), -1)

    return TreeLeaves("xgboost", leaves, slots, [(s + 1) // 2 for s in slots])


def _lightgbm(model: Any) -> TreeLeaves:
    booster = model.booster_ if hasattr(model, "booster_") else model
    counts = [int(t["num_leaves"]) for t in booster.dump_model()["tree_info"]]

    def leaves(X: np.ndarray) -> np.ndarray:
        return np.asarray(booster.predict(np.asarray(X), pred_leaf=True)).reshape(len(X), -1)

    return TreeLeaves("lightgbm", leaves, counts, counts)


def _catboost(model: Any) -> TreeLeaves:
    counts = [int(c) for c in model.get_tree_leaf_counts()]

    def leaves(X: np.ndarray) -> np.ndarray:
        return np.asarray(model.calc_leaf_indexes(np.asarray(X))).reshape(len(X), -1)

    return TreeLeaves("catboost", leaves, counts, counts)


def _library(model: Any) -> str:
    return type(model).__module__.split(".")[0]


def tree_leaves(model: Any) -> TreeLeaves | None:
    """How to read ``model``'s leaves, or None when it is not a supported tree ensemble."""
    library = _library(model)
    if library == "sklearn" and type(model).__name__ == "Pipeline":
        inner = tree_leaves(model.steps[-1][1])
        if inner is None:
            return None
        prefix = model[:-1]
        return TreeLeaves(
            inner.library, lambda X: inner.leaves(prefix.transform(X)), inner.slots,
            inner.n_leaves,
        )  # fmt: skip
    if library == "xgboost":
        return _xgboost(model)
    if library == "lightgbm":
        return _lightgbm(model)
    if library == "catboost" and callable(getattr(model, "calc_leaf_indexes", None)):
        return _catboost(model)
    trees = _sklearn_trees(model) if library == "sklearn" else None
    if trees is None:
        return None
    slots = [int(t.tree_.node_count) for t in trees]

    def leaves(X: np.ndarray) -> np.ndarray:
        return np.asarray(model.apply(np.asarray(X))).reshape(len(X), -1)

    return TreeLeaves("sklearn", leaves, slots, [int(t.tree_.n_leaves) for t in trees])


def leaf_support(model: Any) -> str | None:
    """Why ``model`` has no leaf embedding (None when it has one)."""
    name = type(model).__name__
    if name.startswith("HistGradientBoosting"):
        return (
            f"scikit-learn's {name} has no 'apply' method, so its leaves cannot be read; "
            "relation methods do not apply to it (a GradientBoosting, RandomForest, XGBoost, "
            "LightGBM or CatBoost model would expose them)."
        )
    if tree_leaves(model) is None:
        return f"{name} is not a tree ensemble potstill can read leaves from."
    return None
