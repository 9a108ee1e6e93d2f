"""Each distilled student against the from-scratch student, on the same test rows.

After a system's students are evaluated, the study keeps the minimum a paired comparison
needs: each student's scores on the test rows (float32) and the test labels, one
``DIR/predictions/<record key>.npz`` per student, written atomically
(:mod:`potstill.results.paired`, which the report reads too). Every distilled record then
gets ``quality.versus_scratch``: the paired bootstrap of distilled − scratch
(:mod:`potstill.evaluate.verdict`), computed from exactly the arrays in those files, so
it can be recomputed from them, and combined over seeds (:func:`combined_pairs`,
:func:`combined_versus_scratch`, re-exported here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from potstill.evaluate import EvalConfig, get_metric
from potstill.evaluate.metrics import check_scores
from potstill.evaluate.pair import Predictor
from potstill.evaluate.verdict import PairedScores, paired_gain
from potstill.results.paired import (
    PREDICTIONS_DIR,
    combined_pairs,
    combined_versus_scratch,
    load_test_scores,
    predictions_path,
    save_test_scores,
)
from potstill.types import Quality, Task

__all__ = [
    "PREDICTIONS_DIR",
    "combined_pairs",
    "combined_versus_scratch",
    "load_test_scores",
    "predictions_path",
    "save_test_scores",
    "student_test_scores",
    "with_versus_scratch",
]


def student_test_scores(task: Task, predictor: Predictor, who: str) -> np.ndarray:
    """``predictor``'s checked scores of ``task.test`` as float32, as they are stored."""
    n_classes = task.n_classes if task.problem == "classification" else None
    scores = check_scores(
        predictor(task.test.X),
        task.problem,
        n=len(task.test),
        n_classes=n_classes,
        who=f"{who} predictions for task '{task.name}'",
    )
    return scores.astype(np.float32)


def with_versus_scratch(
    qualities: Mapping[str, Quality],
    scores: Mapping[str, np.ndarray],
    baseline: str | None,
    task: Task,
    config: EvalConfig,
) -> dict[str, Quality]:
    """``qualities`` with ``versus_scratch`` set on every distilled student that has
    scores, when the from-scratch student ``baseline`` has them too."""
    out = dict(qualities)
    if baseline is None or baseline not in scores:
        return out
    spec, y = get_metric(task.metric), np.asarray(task.test.y)
    for label, quality in qualities.items():
        if label == baseline or label not in scores:
            continue
        pair = PairedScores(y=y, scratch=scores[baseline], distilled=scores[label])
        gain = paired_gain([pair], spec, n_resamples=config.n_resamples, seed=config.seed,
                           level=config.level)  # fmt: skip
        out[label] = replace(quality, versus_scratch=gain.to_record())
    return out
