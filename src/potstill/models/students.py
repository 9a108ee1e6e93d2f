"""Student builders: a smaller network derived from the teacher, sized by two fractions.

The paper compares students by how much of the teacher they keep. ``StudentSpec`` says
it with ``width`` (fraction of the teacher's channels/units) and ``depth`` (fraction of
its hidden layers or inverted-residual blocks), or with explicit MLP sizes. The student
is always randomly initialised: it learns from the teacher through distillation, and a
from-scratch baseline of the very same student shows what distillation added.

- MLP or DeepEnsemble teacher → one MLP. Its layers follow the teacher's widths at the
  depths chosen by :func:`~potstill.models.hooks.uniform_layer_map` (the same pairing the
  feature losses use). For an ensemble, ``width`` is relative to one member: a single
  member already serves at 1/M of the ensemble's cost.
- ImageClassifier(MobileNetV2) teacher → the same classifier on a MobileNetV2 with
  ``width_mult × width`` and ``round(n × depth)`` blocks per stage (at least one, so the
  downsampling schedule and the number of stage outputs stay those of the teacher).
- A black box (no module) → :func:`student_for_blackbox`, an MLP sized to a parameter budget.
- An opaque image teacher (TorchScript or ONNX CNN on (C, H, W) inputs) → a
  :class:`~potstill.models.arch.cnn.SmallCNN` sized to a budget (:func:`student_for_images`).
- HFClassifier (Hugging Face transformer) teacher → a transformer student
  (:mod:`~potstill.models.hf.students`): ``depth`` (or ``layers``) sets the blocks kept;
  ``width == 1`` gives a layer-dropped copy initialised from teacher layers (DistilBERT),
  ``width < 1`` a narrower random configuration (``init`` overrides the choice), and
  ``pretrained`` names a local Hugging Face model to use instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from potstill._validation import check_scalar
from potstill.errors import ConfigError, ModelError
from potstill.models.arch.cnn import SmallCNN, cnn_for_budget
from potstill.models.arch.ensemble import DeepEnsemble
from potstill.models.arch.mlp import MLP, Norm, mlp_param_count
from potstill.models.arch.mobilenet import ImageClassifier, MobileNetV2
from potstill.models.hf.model import HFClassifier
from potstill.models.hf.students import build_hf_student
from potstill.models.hooks import round_half_up, scaled_count, uniform_layer_map
from potstill.models.predict import count_params
from potstill.models.registry import get_architecture, spec_field
from potstill.models.student_spec import StudentSpec

__all__ = [
    "MIN_NORMED_WIDTH",
    "StudentSpec",
    "build_from_spec",
    "build_student",
    "student_for_blackbox",
    "student_for_images",
]

#: The narrowest hidden layer a black box's MLP student gets at its requested depth with
#: LayerNorm; a smaller budget gets one hidden layer without normalisation.
MIN_NORMED_WIDTH = 4


def _resolve_shape(
    in_features: int | None, input_shape: Sequence[int] | int | None
) -> tuple[int, ...] | None:
    if input_shape is not None and not isinstance(input_shape, int):
        shape = tuple(int(v) for v in input_shape)
    elif input_shape is not None:
        shape = (int(input_shape),)
    else:
        shape = None
    if in_features is not None:
        check_scalar(in_features, "in_features", owner="build_student", ge=1, integer=True)
        if shape is not None and shape != (in_features,):
            raise ConfigError(
                f"build_student got in_features={in_features} and input_shape={shape}, which "
                "disagree. Pass one of them."
            )
        shape = (int(in_features),)
    return shape


def _mlp_student(
    widths: Sequence[int], spec: StudentSpec, in_features: int, n_outputs: int, template: MLP
) -> MLP:
    n_s = scaled_count(spec.depth, len(widths))
    hidden = [scaled_count(spec.width, widths[j]) for _, j in uniform_layer_map(len(widths), n_s)]
    return MLP(in_features, hidden, n_outputs, dropout=template.dropout, norm=template.norm)


def _mobilenet_student(
    teacher: ImageClassifier, spec: StudentSpec, in_channels: int, n_outputs: int
) -> ImageClassifier:
    bb = teacher.backbone_spec
    setting = [
        [t, c, scaled_count(spec.depth, n), s] for t, c, n, s in bb["inverted_residual_setting"]
    ]
    backbone = MobileNetV2(
        num_classes=n_outputs,
        width_mult=float(bb["width_mult"]) * spec.width,
        inverted_residual_setting=setting,
        round_nearest=int(bb.get("round_nearest", 8)),
        dropout=float(bb.get("dropout", 0.2)),
    )
    return ImageClassifier(
        backbone,
        num_classes=n_outputs,
        input_size=teacher.input_size,
        in_channels=in_channels,
        dropout=teacher.dropout,
    )


#: Training holds weights, gradients and Adam's two moments: 4 float32 copies per parameter.
TRAINING_BYTES_PER_PARAM = 16
#: The largest student build_student makes without being given a budget (1 billion numbers).
MAX_STUDENT_PARAMS = 10**9


def _check_trainable_size(params: int, hidden: Sequence[int]) -> None:
    """Refuse, before allocating, explicit widths whose training would not fit a machine."""
    if params > MAX_STUDENT_PARAMS:
        gib = params * TRAINING_BYTES_PER_PARAM / 1024**3
        raise ConfigError(
            f"student.hidden={list(hidden)} makes an MLP of {params:,} parameters, about "
            f"{gib:,.0f} GiB to train (weights, gradients and Adam state in float32), over the "
            f"{MAX_STUDENT_PARAMS:,}-parameter limit. A student should be smaller than its "
            "teacher: use narrower layers, or width/target_params."
        )


def build_student(
    teacher_module: nn.Module | None,
    spec: StudentSpec,
    *,
    in_features: int | None = None,
    input_shape: Sequence[int] | int | None = None,
    n_outputs: int | None = None,
) -> nn.Module:
    """A randomly initialised student for ``teacher_module`` as ``spec`` sizes it.

    ``in_features`` / ``input_shape`` (e.g. ``task.input_shape``) and ``n_outputs``
    (``task.n_outputs``) default to the teacher's own; they are required when the teacher
    is not a potstill architecture. Such an opaque torch teacher (e.g. TorchScript) on flat
    inputs gets :func:`student_for_blackbox` with ``spec.target_params``, or else a budget of
    ``width × depth ×`` the teacher's parameter count.
    """
    shape = _resolve_shape(in_features, input_shape)
    if isinstance(teacher_module, HFClassifier):
        return _transformer_student(teacher_module, spec, n_outputs)
    if spec.layers is not None or spec.pretrained is not None or spec.init != "auto":
        raise ConfigError(
            "StudentSpec.layers, init and pretrained size transformer students, but the "
            f"teacher is a {type(teacher_module).__name__}. Use width and depth (or hidden)."
        )
    if isinstance(teacher_module, ImageClassifier):
        if spec.hidden is not None:
            raise ConfigError(
                "StudentSpec.hidden sizes an MLP student, but the teacher is an image "
                f"classifier. Got hidden={spec.hidden}; use width and depth instead."
            )
        in_channels = shape[0] if shape is not None else teacher_module.in_channels
        return _mobilenet_student(
            teacher_module, spec, in_channels, n_outputs or teacher_module.num_classes
        )
    if shape is not None and len(shape) == 3 and not isinstance(teacher_module, MLP | DeepEnsemble):
        return _opaque_image_student(teacher_module, spec, shape, n_outputs)
    return _flat_student(teacher_module, spec, shape, n_outputs)


def _flat_student(
    teacher_module: nn.Module | None,
    spec: StudentSpec,
    shape: tuple[int, ...] | None,
    n_outputs: int | None,
) -> nn.Module:
    """An MLP student on flat rows: explicit ``hidden`` widths, a budget from an opaque
    teacher's parameter count, or the teacher MLP's own layers scaled by width and depth."""
    template: MLP | None = None
    if isinstance(teacher_module, DeepEnsemble):
        template = teacher_module.members[0]  # type: ignore[assignment]
    elif isinstance(teacher_module, MLP):
        template = teacher_module
    if shape is not None and len(shape) != 1:
        raise ConfigError(
            f"An MLP student needs flat input rows; got input_shape={shape}. Image tasks need "
            "an ImageClassifier teacher."
        )
    d_in = shape[0] if shape is not None else (template.in_features if template else None)
    d_out = n_outputs if n_outputs is not None else (template.out_features if template else None)
    if spec.hidden is not None:
        if d_in is None or d_out is None:
            raise ConfigError(
                "build_student needs in_features (or input_shape) and n_outputs when the teacher "
                f"is a {type(teacher_module).__name__}. Got in_features={d_in}, n_outputs={d_out}."
            )
        _check_trainable_size(mlp_param_count(d_in, list(spec.hidden), d_out), spec.hidden)
        norm: Norm = template.norm if template else "layer"
        return MLP(
            d_in, spec.hidden, d_out, dropout=template.dropout if template else 0.0, norm=norm
        )
    if template is None and teacher_module is not None and d_in is not None and d_out is not None:
        fraction = spec.width * spec.depth * count_params(teacher_module)
        budget = spec.target_params or round_half_up(fraction)
        smallest = mlp_param_count(d_in, [1, 1], d_out)
        return student_for_blackbox(d_in, d_out, max(budget, smallest))
    if template is None or d_in is None or d_out is None:
        raise ModelError(
            f"build_student cannot size a student for a {type(teacher_module).__name__} "
            f"teacher without in_features (or input_shape) and n_outputs. Got "
            f"in_features={d_in}, n_outputs={d_out}."
        )
    return _mlp_student(template.hidden, spec, d_in, d_out, template)


def _transformer_student(
    teacher: HFClassifier, spec: StudentSpec, n_outputs: int | None
) -> nn.Module:
    if spec.hidden is not None or spec.target_params is not None:
        raise ConfigError(
            "StudentSpec.hidden and target_params size MLP students, but the teacher is a "
            "transformer (HFClassifier). Use width, depth, layers, init or pretrained."
        )
    if n_outputs is not None and n_outputs != teacher.out_features:
        raise ConfigError(
            f"The transformer teacher outputs {teacher.out_features} values but n_outputs="
            f"{n_outputs} was asked. Its student keeps the teacher's head."
        )
    return build_hf_student(
        teacher,
        width=spec.width,
        depth=spec.depth,
        layers=spec.layers,
        init=spec.init,
        pretrained=spec.pretrained,
    )


def student_for_blackbox(
    in_features: int,
    n_outputs: int,
    target_params: int,
    *,
    depth: int = 2,
    norm: Norm = "layer",
    at_most: bool = False,
) -> MLP:
    """An MLP of ``depth`` equal-width hidden layers whose parameter count is closest to
    ``target_params`` (``at_most``: the largest not above it, e.g. a budget that is a
    fraction of the teacher's size; see :mod:`potstill.models.sizing`).

    A budget too small for ``depth`` layers of at least :data:`MIN_NORMED_WIDTH` units
    (a logistic-regression teacher of a few dozen numbers) gets one hidden layer without
    normalisation instead: a LayerNorm over one or two units is (almost) constant, which
    would leave the student unable to learn anything."""
    owner = "student_for_blackbox"
    check_scalar(in_features, "in_features", owner=owner, ge=1, integer=True)
    check_scalar(n_outputs, "n_outputs", owner=owner, ge=1, integer=True)
    check_scalar(depth, "depth", owner=owner, ge=1, integer=True)

    def count(h: int) -> int:
        return mlp_param_count(in_features, [h] * depth, n_outputs, norm)

    smallest = count(1)
    check_scalar(target_params, "target_params", owner=owner, ge=smallest, integer=True)
    lo, hi = 1, max(1, int(target_params))  # count(h) >= h, so h <= target
    while lo < hi:  # smallest h with count(h) >= target
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(mid) < target_params else (lo, mid)
    if at_most:
        width = lo if count(lo) <= target_params else max(1, lo - 1)
    else:
        closer_below = target_params - count(lo - 1) <= count(lo) - target_params
        width = lo - 1 if lo > 1 and closer_below else lo
    if width < MIN_NORMED_WIDTH and (depth, norm) != (1, "none"):
        return student_for_blackbox(
            in_features, n_outputs, target_params, depth=1, norm="none", at_most=at_most
        )
    return MLP(in_features, [width] * depth, n_outputs, norm=norm)


def _opaque_image_student(
    teacher: nn.Module | None, spec: StudentSpec, shape: tuple[int, ...], n_outputs: int | None
) -> SmallCNN:
    """An opaque torch module on images (C, H, W): a small CNN on the budget the MLP student
    of an opaque module gets (``target_params``, else ``width × depth ×`` its parameters)."""
    if teacher is None or n_outputs is None:
        raise ConfigError(
            "build_student needs the teacher module and n_outputs for an image student. "
            f"Got teacher={type(teacher).__name__}, n_outputs={n_outputs}."
        )
    budget = spec.target_params or round_half_up(spec.width * spec.depth * count_params(teacher))
    return student_for_images(shape, n_outputs, spec, max(1, budget))


def student_for_images(
    input_shape: Sequence[int], n_outputs: int, spec: StudentSpec, budget: int
) -> SmallCNN:
    """The :class:`~potstill.models.arch.cnn.SmallCNN` student of an opaque image teacher with the
    parameter count closest to ``budget`` — never above it unless the budget is
    ``spec.target_params`` (a budget from the teacher's size must keep the student smaller)."""
    if spec.hidden is not None:
        raise ConfigError(
            "StudentSpec.hidden sizes an MLP student, but the task's inputs are images "
            f"{tuple(input_shape)}: the student is a small CNN. Got hidden={spec.hidden}; use "
            "width, or target_params."
        )
    return cnn_for_budget(input_shape, n_outputs, budget, at_most=spec.target_params is None)


def build_from_spec(spec: Mapping[str, Any]) -> nn.Module:
    """Rebuild a module (random weights) from its ``spec()``; used to reload saved models."""
    cls = get_architecture(spec_field(spec, "type", "the model"))
    try:
        module: nn.Module = cls.from_spec(spec)  # type: ignore[attr-defined]
    except ConfigError as exc:
        raise ModelError(
            f"The architecture spec of type {spec['type']!r} is invalid: {exc}"
        ) from exc
    return module
