"""The evaluate box: what a student kept and lost against its teacher, with error bars.

A distilled model must be judged on more than accuracy: fidelity to the teacher,
calibration, fairness across groups and robustness to degraded inputs, each with a
paired-bootstrap interval and the n behind it, and a team must be able to gate a
deployment on them. :func:`evaluate_pair` measures everything into a
:class:`~potstill.types.Quality`; :func:`apply_gates` turns it into pass/fail
(:mod:`potstill.results.check` re-gates a finished study for ``potstill check``).
"""

from __future__ import annotations

from potstill.evaluate.bootstrap import estimate, paired_bootstrap, percentile_interval
from potstill.evaluate.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
)
from potstill.evaluate.config import DEFAULT_RUNTIME_RETENTION, EvalConfig, GatesConfig
from potstill.evaluate.fairness import check_sensitive, fairness_summary
from potstill.evaluate.fidelity import agreement, js_divergence, kl_divergence, pearson
from potstill.evaluate.gates import (
    GATE_NAMES,
    apply_gates,
    gate_status,
    quality_from_dict,
    relative_gap,
)
from potstill.evaluate.metrics import (
    METRICS,
    MetricSpec,
    get_metric,
    list_metrics,
    metric_value,
    register_metric,
    retention,
)
from potstill.evaluate.pair import Predictor, evaluate_pair
from potstill.evaluate.retrieval import (
    cosine_agreement,
    evaluate_embeddings,
    retrieval_hits,
    retrieval_recall,
    similarity_agreement,
)
from potstill.evaluate.robustness import (
    PERTURBATIONS,
    get_perturbation,
    list_perturbations,
    register_perturbation,
)

__all__ = [
    "DEFAULT_RUNTIME_RETENTION",
    "GATE_NAMES",
    "METRICS",
    "PERTURBATIONS",
    "EvalConfig",
    "GatesConfig",
    "MetricSpec",
    "Predictor",
    "agreement",
    "apply_gates",
    "apply_temperature",
    "check_sensitive",
    "cosine_agreement",
    "estimate",
    "evaluate_embeddings",
    "evaluate_pair",
    "expected_calibration_error",
    "fairness_summary",
    "fit_temperature",
    "gate_status",
    "get_metric",
    "get_perturbation",
    "js_divergence",
    "kl_divergence",
    "list_metrics",
    "list_perturbations",
    "metric_value",
    "paired_bootstrap",
    "pearson",
    "percentile_interval",
    "quality_from_dict",
    "register_metric",
    "register_perturbation",
    "relative_gap",
    "reliability_bins",
    "retention",
    "retrieval_hits",
    "retrieval_recall",
    "similarity_agreement",
]
