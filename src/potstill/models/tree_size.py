"""The size of a tree ensemble, whichever library holds it.

A tree ensemble has no weights to count, so its size is its number of tree nodes (split
nodes plus leaves over all trees, each tree counted as a binary tree): each node stores one
split or one leaf value. :func:`estimator_tree_size` reads it from scikit-learn trees and
ensembles (including ``HistGradientBoosting*``), and from the scikit-learn wrappers of
XGBoost, LightGBM and CatBoost; the GBM file backends use the same readers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "SIZE_UNIT",
    "TreeSize",
    "catboost_size",
    "estimator_tree_size",
    "lightgbm_size",
    "xgboost_size",
]

#: What a tree ensemble's ``params`` counts (stored beside it in the teacher's description).
SIZE_UNIT = "tree nodes (splits + leaves over all trees, each tree counted as a binary tree)"


@dataclass(frozen=True)
class TreeSize:
    """The size of a tree ensemble: trees, nodes (splits + leaves), leaves, deepest tree."""

    trees: int
    nodes: int
    leaves: int
    max_depth: int

    @classmethod
    def from_leaf_counts(cls, leaves: list[int], max_depth: int) -> TreeSize:
        return cls(len(leaves), sum(2 * n - 1 for n in leaves), sum(leaves), max_depth)


def _depth(left: list[int], right: list[int]) -> int:
    """Depth of a tree stored as child-index arrays (-1: leaf); a lone leaf has depth 0."""
    deepest, stack = 0, [(0, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if left[node] != -1:
            stack += [(left[node], depth + 1), (right[node], depth + 1)]
    return deepest


def xgboost_size(booster: Any) -> TreeSize:
    """Trees of an ``xgboost.Booster`` (a gblinear model has none)."""
    gradient_booster = json.loads(bytes(booster.save_raw("json")))["learner"]["gradient_booster"]
    if gradient_booster.get("name") == "gblinear":
        return TreeSize(0, 0, 0, 0)
    trees = gradient_booster.get("gbtree", gradient_booster)["model"]["trees"]  # dart wraps one
    leaves = [sum(1 for c in t["left_children"] if c == -1) for t in trees]
    depth = max((_depth(t["left_children"], t["right_children"]) for t in trees), default=0)
    return TreeSize.from_leaf_counts(leaves, depth)


def _lightgbm_depth(node: dict[str, Any]) -> int:
    deepest, stack = 0, [(node, 0)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        stack += [(current[s], depth + 1) for s in ("left_child", "right_child") if s in current]
    return deepest


def lightgbm_size(dump: dict[str, Any]) -> TreeSize:
    """Trees of a LightGBM ``Booster.dump_model()``."""
    trees = dump["tree_info"]
    return TreeSize.from_leaf_counts(
        [int(t["num_leaves"]) for t in trees],
        max((_lightgbm_depth(t["tree_structure"]) for t in trees), default=0),
    )


def catboost_size(model: Any) -> TreeSize:
    """Trees of a CatBoost model (depth: its ``depth`` parameter)."""
    depth = int(model.get_all_params().get("depth", 0))
    return TreeSize.from_leaf_counts([int(n) for n in model.get_tree_leaf_counts()], depth)


def _sklearn_trees(est: Any) -> list[Any] | None:
    """The fitted ``tree_`` objects of a scikit-learn tree or ensemble of trees."""
    if hasattr(est, "tree_"):
        return [est.tree_]
    members = getattr(est, "estimators_", None)
    if members is None:
        return None
    flat = list(np.asarray(members, dtype=object).ravel())
    trees = [getattr(m, "tree_", None) for m in flat]
    return trees if trees and all(t is not None for t in trees) else None


def estimator_tree_size(est: Any) -> TreeSize | None:
    """The size of a fitted tree model, or None when ``est`` is not one."""
    steps = getattr(est, "steps", None)
    if isinstance(steps, list) and steps:  # a Pipeline: its final estimator
        return estimator_tree_size(steps[-1][1])
    predictors = getattr(est, "_predictors", None)  # HistGradientBoosting*
    if isinstance(predictors, list) and predictors:
        nodes = [p.nodes for per_iteration in predictors for p in per_iteration]
        return TreeSize(
            trees=len(nodes),
            nodes=sum(len(n) for n in nodes),
            leaves=int(sum(n["is_leaf"].sum() for n in nodes)),
            max_depth=int(max(n["depth"].max() for n in nodes)),
        )
    trees = _sklearn_trees(est)
    if trees is not None:
        return TreeSize(
            trees=len(trees),
            nodes=sum(int(t.node_count) for t in trees),
            leaves=sum(int(t.n_leaves) for t in trees),
            max_depth=max(int(t.max_depth) for t in trees),
        )
    return _wrapper_size(est)


def _wrapper_size(est: Any) -> TreeSize | None:
    """XGBoost, LightGBM and CatBoost scikit-learn wrappers, by the library's own booster."""
    library = type(est).__module__.split(".")[0]
    try:
        if library == "xgboost":
            return xgboost_size(est.get_booster())
        if library == "lightgbm":
            return lightgbm_size(est.booster_.dump_model())
        if library == "catboost":
            return catboost_size(est)
    except (AttributeError, ValueError, KeyError):  # not fitted, or a linear booster
        return None
    return None
