"""Distillation methods: response-, feature- and relation-based losses, each from its paper.

Two layers:

- :mod:`potstill.methods.functional` — pure loss functions on tensors (``kd_loss``,
  ``dkd_loss``, ``rkd_distance_loss``, ...), each documenting its formula and reduction;
- method modules (``nn.Module``) registered by name — they declare their family, what they
  need from a forward pass, their paper and their validated hyper-parameters, own their
  learned adapters, and return ``{"loss": ..., <components>}``.

``build_objective([MethodSpec(name="kd"), MethodSpec(name="rkd", weight=0.5)], ...)``
combines any of them with the label loss; ``check_applicable`` refuses, before training,
a method the teacher cannot feed. See ``docs/methods-reference.md``.
"""

from __future__ import annotations

from potstill.methods import functional
from potstill.methods.applicability import (
    applicability_reason,
    applicable_methods,
    check_applicable,
)
from potstill.methods.base import BindContext, Method, MethodInfo, Param
from potstill.methods.crd import CRD
from potstill.methods.feature import (
    AttentionMSE,
    AttentionTransfer,
    FitNet,
    HiddenCosine,
    HiddenMSE,
)
from potstill.methods.objective import (
    EmbeddingObjective,
    MethodSpec,
    Objective,
    build_objective,
    parse_method_specs,
)
from potstill.methods.registry import (
    create_method,
    get_method_class,
    list_methods,
    method_info,
    register_method,
)
from potstill.methods.relation import CC, PKT, RKD, SP, MiniLM, RKDAngle, RKDDistance
from potstill.methods.response import DIST, DKD, KD, KDRegression

__all__ = [
    "CC",
    "CRD",
    "DIST",
    "DKD",
    "KD",
    "PKT",
    "RKD",
    "SP",
    "AttentionMSE",
    "AttentionTransfer",
    "BindContext",
    "EmbeddingObjective",
    "FitNet",
    "HiddenCosine",
    "HiddenMSE",
    "KDRegression",
    "Method",
    "MethodInfo",
    "MethodSpec",
    "MiniLM",
    "Objective",
    "Param",
    "RKDAngle",
    "RKDDistance",
    "applicability_reason",
    "applicable_methods",
    "build_objective",
    "check_applicable",
    "create_method",
    "functional",
    "get_method_class",
    "list_methods",
    "method_info",
    "parse_method_specs",
    "register_method",
]
