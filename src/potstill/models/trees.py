"""The size of a tree ensemble, counted from the model itself.

A tree ensemble has no parameter count, yet a student must be sized from its teacher and
must not be larger than it. What a tree ensemble learns is, per split node, a feature and
a threshold, and per leaf a value; :attr:`TreeCount.learned` counts those numbers
(``2 × splits + leaves``), the tree counterpart of a network's parameters. Counted for
scikit-learn trees and forests (HistGradientBoosting too), XGBoost, LightGBM and CatBoost
models (their scikit-learn wrappers or native boosters, also as the last step of a
Pipeline) and the TreeEnsemble operators of an ONNX graph. An unknown model gives None.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TreeCount", "count_trees", "onnx_tree_count"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TreeCount:
    """Trees, split nodes and leaves of an ensemble."""

    trees: int
    splits: int
    leaves: int

    @property
    def nodes(self) -> int:
        return self.splits + self.leaves

    @property
    def learned(self) -> int:
        """Learned numbers: a feature and a threshold per split, a value per leaf."""
        return 2 * self.splits + self.leaves


def _sum(counts: list[tuple[int, int]]) -> TreeCount | None:
    if not counts:
        return None
    return TreeCount(len(counts), sum(s for s, _ in counts), sum(leaf for _, leaf in counts))


def _sklearn_tree(tree: Any) -> tuple[int, int]:
    leaves = int(np.sum(np.asarray(tree.children_left) == -1))
    return int(tree.node_count) - leaves, leaves


def _sklearn(model: Any) -> TreeCount | None:
    predictors = getattr(model, "_predictors", None)  # HistGradientBoosting*
    if predictors is not None:
        nodes = [p.nodes for iteration in predictors for p in iteration]
        return _sum(
            [(int(np.sum(~n["is_leaf"].astype(bool))), int(np.sum(n["is_leaf"]))) for n in nodes]
        )
    if getattr(model, "tree_", None) is not None:  # a single decision tree
        return _sum([_sklearn_tree(model.tree_)])
    estimators = getattr(model, "estimators_", None)  # forests, GradientBoosting (2-D)
    if estimators is None:
        return None
    members = [e for e in np.ravel(np.asarray(estimators, dtype=object))]
    if not members or any(getattr(m, "tree_", None) is None for m in members):
        return None
    return _sum([_sklearn_tree(m.tree_) for m in members])


def _xgboost(booster: Any) -> TreeCount | None:
    counts = []
    for tree in booster.get_dump():
        lines = [line for line in tree.splitlines() if line.strip()]
        leaves = sum("leaf=" in line for line in lines)
        counts.append((len(lines) - leaves, leaves))
    return _sum(counts)


def _lightgbm(booster: Any) -> TreeCount | None:
    leaves = [int(t["num_leaves"]) for t in booster.dump_model()["tree_info"]]
    return _sum([(n - 1, n) for n in leaves])


def _catboost(model: Any) -> TreeCount | None:
    # Oblivious trees: one split per level is shared by every node of that level.
    leaves = [int(n) for n in model.get_tree_leaf_counts()]
    return _sum([(round(math.log2(n)) if n > 1 else 0, n) for n in leaves])


def count_trees(model: Any) -> TreeCount | None:
    """Trees, splits and leaves of a fitted tree ensemble, or None if ``model`` is none."""
    if model is None:
        return None
    steps = getattr(model, "steps", None)  # a scikit-learn Pipeline: its final estimator
    if isinstance(steps, list) and steps:
        return count_trees(steps[-1][1])
    try:
        if callable(getattr(model, "get_booster", None)):
            return _xgboost(model.get_booster())
        if callable(getattr(model, "get_dump", None)):
            return _xgboost(model)
        booster = getattr(model, "booster_", model)
        if callable(getattr(booster, "dump_model", None)):
            return _lightgbm(booster)
        if callable(getattr(model, "get_tree_leaf_counts", None)):
            return _catboost(model)
        return _sklearn(model)
    except (AttributeError, TypeError, ValueError, KeyError) as exc:  # not fitted, or unknown
        log.debug("cannot count the trees of a %s: %s", type(model).__name__, exc)
        return None


def onnx_tree_count(path: Path) -> TreeCount | None:
    """Splits and leaves of the TreeEnsemble operators (ai.onnx.ml) in an ONNX graph."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    trees, splits, leaves = 0, 0, 0
    for node in graph.node:
        if not node.op_type.startswith("TreeEnsemble"):
            continue
        attrs = {a.name: a for a in node.attribute}
        if "nodes_modes" not in attrs:
            return None  # a newer operator layout this counter does not read
        modes = [
            m.decode() if isinstance(m, bytes) else str(m) for m in attrs["nodes_modes"].strings
        ]
        leaf = sum(m == "LEAF" for m in modes)
        splits, leaves = splits + len(modes) - leaf, leaves + leaf
        trees += len(set(attrs["nodes_treeids"].ints)) if "nodes_treeids" in attrs else 0
    return TreeCount(trees, splits, leaves) if splits + leaves else None
