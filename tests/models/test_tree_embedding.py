"""Leaf-membership embeddings: Breiman proximity as geometry, for every tree library."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from potstill.errors import DataError
from potstill.models.teacher import Teacher
from potstill.models.tree_embedding import leaf_embedding, leaf_support, tree_leaves

RNG = np.random.default_rng(0)
X = RNG.normal(size=(120, 5)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.8).astype(np.int64)


def _proximity(leaves: np.ndarray) -> np.ndarray:
    """Breiman's proximity: the fraction of trees in which two rows share a leaf."""
    return (leaves[:, None, :] == leaves[None, :, :]).mean(axis=2)


def test_exact_one_hot_gives_proximity_as_inner_product() -> None:
    leaves = RNG.integers(0, 4, size=(30, 10))
    emb = leaf_embedding(leaves, [4] * 10, width=64)
    assert emb.shape == (30, 40) and emb.dtype == np.float32
    prox = _proximity(leaves)
    np.testing.assert_allclose(emb @ emb.T, prox, atol=1e-6)
    sq = ((emb[:, None] - emb[None]) ** 2).sum(-1)
    np.testing.assert_allclose(sq, 2 * (1 - prox), atol=1e-5)  # ||a - b||² = 2 (1 - prox)


def test_projection_keeps_proximity_and_is_row_independent() -> None:
    forest = RandomForestClassifier(n_estimators=200, max_depth=6, random_state=0).fit(X, Y)
    reader = tree_leaves(forest)
    assert reader is not None and len(reader.slots) == 200 and sum(reader.slots) > 256
    leaves = reader.leaves(X)
    emb = leaf_embedding(leaves, reader.slots, width=256)
    assert emb.shape == (120, 256)
    prox, approx = _proximity(leaves), emb @ emb.T
    upper = np.triu_indices(len(X), 1)
    assert np.corrcoef(prox[upper], approx[upper])[0, 1] > 0.9
    assert np.abs(prox[upper] - approx[upper]).mean() < 0.06  # ~ 1/sqrt(width)
    np.testing.assert_array_equal(leaf_embedding(leaves[:7], reader.slots, width=256), emb[:7])
    other_seed = leaf_embedding(leaves, reader.slots, width=256, seed=1)
    assert not np.allclose(other_seed, emb)


def _xgb() -> object:
    xgboost = pytest.importorskip("xgboost")
    return xgboost.XGBClassifier(n_estimators=6, max_depth=3, n_jobs=1, random_state=0).fit(X, Y)


def _lgbm() -> object:
    lightgbm = pytest.importorskip("lightgbm")
    return lightgbm.LGBMClassifier(n_estimators=6, num_leaves=7, verbose=-1, n_jobs=1).fit(X, Y)


def _cat() -> object:
    catboost = pytest.importorskip("catboost")
    model = catboost.CatBoostClassifier(
        iterations=6, depth=3, verbose=False, thread_count=1, allow_writing_files=False
    )
    return model.fit(X, Y, verbose=False)


@pytest.mark.parametrize(
    ("make", "library", "n_trees"),
    [
        (lambda: RandomForestClassifier(8, max_depth=3, random_state=0).fit(X, Y), "sklearn", 8),
        (lambda: ExtraTreesClassifier(8, max_depth=3, random_state=0).fit(X, Y), "sklearn", 8),
        (lambda: GradientBoostingClassifier(n_estimators=4, max_depth=2).fit(X, Y), "sklearn", 12),
        (lambda: RandomForestRegressor(5, max_depth=3).fit(X, X[:, 0]), "sklearn", 5),
        (
            lambda: make_pipeline(StandardScaler(), RandomForestClassifier(4, max_depth=3)).fit(
                X, Y
            ),
            "sklearn",
            4,
        ),
        (_xgb, "xgboost", 18),  # 6 rounds x 3 classes
        (_lgbm, "lightgbm", 18),
        (_cat, "catboost", 6),
    ],
)
def test_every_library_gives_leaves_within_their_slots(
    make: object, library: str, n_trees: int
) -> None:
    model = make()  # type: ignore[operator]
    reader = tree_leaves(model)
    assert reader is not None and reader.library == library and leaf_support(model) is None
    leaves = reader.leaves(X)
    assert leaves.shape == (len(X), n_trees) == (len(X), len(reader.slots))
    assert (leaves.min() >= 0) and np.all(leaves.max(axis=0) < reader.slots)
    assert all(0 < n <= s for n, s in zip(reader.n_leaves, reader.slots, strict=True))
    emb = reader.embedding(X[:10], width=32)
    assert emb.shape == (10, 32) and np.isfinite(emb).all()
    teacher = Teacher.from_sklearn(
        model, problem="regression" if n_trees == 5 else "classification"
    )
    assert teacher.capabilities == {"logits", "embedding"}
    width = min(sum(reader.slots), 256)  # exact one-hot when it fits, else projected
    assert teacher.outputs(torch.from_numpy(X[:4])).embedding.shape == (4, width)


def test_hist_gradient_boosting_has_no_leaves_and_says_why() -> None:
    hgb = HistGradientBoostingClassifier(max_iter=5).fit(X, Y)
    assert tree_leaves(hgb) is None
    assert "no 'apply' method" in (leaf_support(hgb) or "")
    assert Teacher.from_sklearn(hgb, problem="classification").capabilities == {"logits"}


def test_bad_leaf_ids_are_refused() -> None:
    with pytest.raises(DataError, match=r"shaped \(n, trees\)"):
        leaf_embedding(np.zeros((3, 0), dtype=int))
    with pytest.raises(DataError, match="non-negative integer"):
        leaf_embedding(np.array([[0.5, 1.0]]))
    with pytest.raises(DataError, match="do not fit n_leaves_per_tree"):
        leaf_embedding(np.array([[0, 5]]), [4, 4])
