"""Drift statistics of a served model against the reference profile the study recorded.

A *reference* is what the model saw when it was studied: per numeric input, quantile bin
edges, the share of rows in each bin and a seeded sample of the values; per categorical
input, its categories and their shares. Live traffic is compared with it window by window:

- PSI (population stability index) of a numeric input on the reference's quantile bins;
- the two-sample Kolmogorov–Smirnov statistic (``scipy.stats.ks_2samp``) against the
  reference sample;
- the chi-squared statistic of a categorical input's counts against the reference shares
  (an unseen category is its own bucket).

The statistics have no fixed thresholds (the folk 0.1/0.25 for PSI ignore the window's
size): :mod:`potstill.evaluate.drift_calibration` derives them by bootstrap for the size of
the window being judged. Proportions (live agreement, live accuracy) get Wilson intervals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from potstill.errors import DataError

__all__ = [
    "MAX_CATEGORIES",
    "N_BINS",
    "REFERENCE_SAMPLE",
    "CategoricalReference",
    "NumericReference",
    "Reference",
    "bin_counts",
    "categorical_reference",
    "chi2_statistic",
    "ks_statistic",
    "numeric_reference",
    "psi",
    "reference_from_dict",
    "smoothed_shares",
    "wilson_interval",
]

#: Quantile bins of a numeric input's reference.
N_BINS = 10
#: Values kept per input for the KS test and the bootstrap calibration.
REFERENCE_SAMPLE = 2000
#: A numeric input of integers with at most this many distinct values is judged as categories.
MAX_CATEGORIES = 10
#: Share given to an empty bin, so a log-ratio stays finite.
_EPS = 1e-4


@dataclass(frozen=True)
class NumericReference:
    """A numeric input's reference: interior bin edges, bin shares, a sorted sample."""

    name: str
    edges: tuple[float, ...]
    shares: tuple[float, ...]
    sample: np.ndarray
    n: int
    mean: float
    std: float

    kind = "numeric"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "n": self.n, "mean": self.mean, "std": self.std,
            "edges": list(self.edges), "shares": list(self.shares),
            "sample": [float(v) for v in self.sample],
        }  # fmt: skip


@dataclass(frozen=True)
class CategoricalReference:
    """A categorical input's reference: its categories, their shares and a sample of codes
    (code ``len(categories)`` is the bucket of values the reference never saw)."""

    name: str
    categories: tuple[Any, ...]
    shares: tuple[float, ...]
    sample: np.ndarray
    n: int

    kind = "categorical"

    def codes(self, values: Sequence[Any] | np.ndarray) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.categories)}
        other = len(self.categories)
        return np.fromiter((index.get(v, other) for v in values), dtype=np.int64, count=len(values))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "n": self.n, "categories": list(self.categories),
            "shares": list(self.shares), "sample": [int(v) for v in self.sample],
        }  # fmt: skip


Reference = NumericReference | CategoricalReference


def _sample(values: np.ndarray, seed: int) -> np.ndarray:
    if len(values) <= REFERENCE_SAMPLE:
        return values
    rng = np.random.default_rng(seed)
    return values[rng.choice(len(values), REFERENCE_SAMPLE, replace=False)]


def numeric_reference(name: str, values: np.ndarray, *, seed: int = 0) -> NumericReference:
    """Quantile bins (at most :data:`N_BINS`, fewer when values repeat) of ``values``."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        raise DataError(
            f"The reference of input '{name}' needs at least 2 finite values. Got {len(x)}."
        )
    qs = np.quantile(x, np.linspace(0, 1, N_BINS + 1)[1:-1])
    edges = np.unique(qs)
    counts = bin_counts(x, edges)
    return NumericReference(
        name=name,
        edges=tuple(float(e) for e in edges),
        shares=tuple(float(c) for c in counts / counts.sum()),
        sample=np.sort(_sample(x, seed)),
        n=len(x),
        mean=float(x.mean()),
        std=float(x.std()),
    )


def categorical_reference(
    name: str, values: Sequence[Any] | np.ndarray, *, seed: int = 0
) -> CategoricalReference:
    """Categories (sorted) and their shares in ``values``."""
    raw = np.asarray(values)
    cats, codes, counts = np.unique(raw, return_inverse=True, return_counts=True)
    return CategoricalReference(
        name=name,
        categories=tuple(c.item() if hasattr(c, "item") else c for c in cats),
        shares=tuple(float(c) for c in counts / counts.sum()),
        sample=_sample(codes.astype(np.int64).ravel(), seed),
        n=int(counts.sum()),
    )


def reference_from_dict(name: str, data: Mapping[str, Any]) -> Reference:
    """Inverse of ``to_dict`` (the JSON of the reference profile)."""
    try:
        if data["kind"] == "numeric":
            return NumericReference(
                name, tuple(data["edges"]), tuple(data["shares"]),
                np.asarray(data["sample"], dtype=np.float64), int(data["n"]),
                float(data["mean"]), float(data["std"]),
            )  # fmt: skip
        if data["kind"] == "categorical":
            return CategoricalReference(
                name, tuple(data["categories"]), tuple(data["shares"]),
                np.asarray(data["sample"], dtype=np.int64), int(data["n"]),
            )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"The reference of input '{name}' is malformed: {exc!r}.") from exc
    raise DataError(
        f"The reference of input '{name}' has kind {data.get('kind')!r}; "
        "expected 'numeric' or 'categorical'."
    )


def bin_counts(values: np.ndarray, edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """Counts of ``values`` in the bins cut at ``edges`` (len(edges) + 1 bins; a value equal
    to an edge falls in the bin above it)."""
    idx = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")
    return np.bincount(idx, minlength=len(edges) + 1).astype(np.float64)


def psi(reference: np.ndarray, live: np.ndarray) -> np.ndarray:
    """PSI between share vectors (last axis = bins); empty bins count as a share of 1e-4.
    Works on one pair of vectors or row-wise on (B, K) arrays."""
    r = np.clip(np.asarray(reference, dtype=np.float64), _EPS, None)
    q = np.clip(np.asarray(live, dtype=np.float64), _EPS, None)
    return np.sum((q - r) * np.log(q / r), axis=-1)


def smoothed_shares(counts: np.ndarray) -> np.ndarray:
    """Shares with half a count added to every bucket (row-wise on (B, K))."""
    c = np.asarray(counts, dtype=np.float64) + 0.5
    return c / c.sum(axis=-1, keepdims=True)


def chi2_statistic(shares: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Pearson's chi-squared statistic of observed ``counts`` against expected ``shares``
    (both over the same buckets; row-wise on (B, K))."""
    counts = np.asarray(counts, dtype=np.float64)
    expected = np.asarray(shares, dtype=np.float64) * counts.sum(axis=-1, keepdims=True)
    return np.sum((counts - expected) ** 2 / expected, axis=-1)


def ks_statistic(reference_sample: np.ndarray, live: np.ndarray) -> float:
    """The two-sample KS statistic of ``live`` against the reference sample (scipy)."""
    result = stats.ks_2samp(live, reference_sample, method="asymp")
    return float(result.statistic)


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float | None, float | None]:
    """Wilson score interval of a proportion ``k / n``; (None, None) when ``n`` is 0."""
    if n <= 0:
        return None, None
    z = float(stats.norm.ppf(0.5 + level / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
