"""Pure loss functions, one per distillation method, each with its paper's formula.

``potstill.methods.functional`` is the layer the tests pin against independent reference
computations; the method modules (:mod:`potstill.methods.response`, ``feature``,
``relation``) add learned adapters, hyper-parameter validation and the registry.
"""

from __future__ import annotations

from potstill.methods.functional.feature import (
    at_loss,
    attention_map,
    attention_mse_loss,
    fitnet_loss,
    hidden_cosine_loss,
    hidden_mse_loss,
)
from potstill.methods.functional.relation import (
    cc_correlation,
    cc_loss,
    crd_contrast_loss,
    minilm_attention_loss,
    minilm_value_relation_loss,
    pairwise_distances,
    pkt_loss,
    rkd_angle_loss,
    rkd_distance_loss,
    sp_loss,
)
from potstill.methods.functional.response import (
    dist_loss,
    dist_terms,
    dkd_loss,
    dkd_terms,
    kd_loss,
    kd_regression_loss,
    pearson_rows,
)
from potstill.methods.functional.token import (
    LOG_FLOOR,
    TOKEN_DIVERGENCES,
    forward_kl_loss,
    generalized_jsd_loss,
    reverse_kl_loss,
    topk_log_probs,
    topk_token_loss,
)

__all__ = [
    "LOG_FLOOR",
    "TOKEN_DIVERGENCES",
    "at_loss",
    "attention_map",
    "attention_mse_loss",
    "cc_correlation",
    "cc_loss",
    "crd_contrast_loss",
    "dist_loss",
    "dist_terms",
    "dkd_loss",
    "dkd_terms",
    "fitnet_loss",
    "forward_kl_loss",
    "generalized_jsd_loss",
    "hidden_cosine_loss",
    "hidden_mse_loss",
    "kd_loss",
    "kd_regression_loss",
    "minilm_attention_loss",
    "minilm_value_relation_loss",
    "pairwise_distances",
    "pearson_rows",
    "pkt_loss",
    "reverse_kl_loss",
    "rkd_angle_loss",
    "rkd_distance_loss",
    "sp_loss",
    "topk_log_probs",
    "topk_token_loss",
]
