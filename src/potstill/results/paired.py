"""The test scores a study keeps, and distilled − scratch combined over seeds from them.

After a system's students are evaluated, the study keeps the minimum a paired comparison
needs: each student's scores on the test rows (float32) and the test labels, one
``DIR/predictions/<record key>.npz`` per student, written atomically. From these files
the gain of a distilled student over the from-scratch one can be recomputed, and combined
over several seeds (one study with ``seeds``, or several studies) by the stratified paired
bootstrap of :mod:`potstill.evaluate.verdict`.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from potstill._io import atomic_write_bytes
from potstill.errors import StoreError
from potstill.evaluate import EvalConfig, get_metric
from potstill.evaluate.verdict import Gain, PairedScores, paired_gain

__all__ = [
    "PREDICTIONS_DIR",
    "combined_pairs",
    "combined_versus_scratch",
    "load_test_scores",
    "predictions_path",
    "save_test_scores",
]

PREDICTIONS_DIR = "predictions"


def predictions_path(out: Path, key: str) -> Path:
    """Where the test scores of the record ``key`` are kept."""
    return Path(out) / PREDICTIONS_DIR / f"{key}.npz"


def save_test_scores(path: Path, y: np.ndarray, scores: np.ndarray, *, metric: str) -> None:
    """Keep one student's test ``scores`` with the labels ``y`` (atomically)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, y=np.asarray(y), scores=scores, metric=np.array(metric))
    atomic_write_bytes(path, buffer.getvalue())


def load_test_scores(path: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """(labels, scores, metric) of a file :func:`save_test_scores` wrote."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return data["y"], data["scores"], str(data["metric"])
    except FileNotFoundError as exc:
        raise StoreError(
            f"Test scores not found: {path}. Rerun the study that wrote the records beside "
            "it to keep them."
        ) from exc
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise StoreError(
            f"Test scores {path} are unreadable ({exc}); expected an .npz with 'y', "
            "'scores' and 'metric'. Delete it and rerun the study."
        ) from exc


def _paired(study: Path, scratch_key: str, distilled_key: str) -> tuple[PairedScores, set[str]]:
    y, scratch, metric = load_test_scores(predictions_path(study, scratch_key))
    y_d, distilled, metric_d = load_test_scores(predictions_path(study, distilled_key))
    if not np.array_equal(y, y_d):
        raise StoreError(
            f"The test labels of '{scratch_key}' and '{distilled_key}' in {study} differ: "
            "the two students were not scored on the same rows. Rerun that study."
        )
    return PairedScores(y=y, scratch=scratch, distilled=distilled), {metric, metric_d}


def combined_pairs(runs: Sequence[tuple[Path, str, str]], config: EvalConfig) -> Gain:
    """The gain of distilled over scratch combined over ``runs``, each (study directory,
    scratch record key, distilled record key) of one seed, by the stratified paired
    bootstrap. Seeds of one study (``seeds:``, keys ``<system>#<seed>__<label>``) and
    studies of one fleet run with different seeds are combined alike."""
    pairs, metrics = [], set()
    for study, scratch_key, distilled_key in runs:
        pair, metric = _paired(Path(study), scratch_key, distilled_key)
        pairs.append(pair)
        metrics |= metric
    if len(metrics) != 1:
        raise StoreError(
            f"The runs {[f'{s}/{k}' for s, _, k in runs]} are scored with different metrics "
            f"{sorted(metrics)}; combine only runs of the same system."
        )
    return paired_gain(pairs, get_metric(metrics.pop()), n_resamples=config.n_resamples,
                       seed=config.seed, level=config.level)  # fmt: skip


def combined_versus_scratch(
    studies: Sequence[Path], scratch_key: str, distilled_key: str, config: EvalConfig
) -> Gain:
    """The gain of one distilled student over scratch, combined over ``studies`` (one study
    directory per seed of the same fleet) by the stratified paired bootstrap."""
    return combined_pairs([(s, scratch_key, distilled_key) for s in studies], config)
