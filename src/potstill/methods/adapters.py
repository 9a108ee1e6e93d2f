"""Learned adapters that map student features into the teacher's feature space.

Feature distillation compares tensors that rarely have the same width: a thin student
layer against a wide teacher layer. The adapter is the smallest learned map that makes
them comparable, chosen by the feature's shape:

- vectors (N, D) and token sequences (N, T, D): a ``Linear(D_s, D_t)`` on the last axis;
- feature maps (N, C, H, W): a 1×1 convolution ``C_s → C_t`` followed by BatchNorm (the
  FitNets/OFD regressor); spatial sizes are matched by the caller (interpolation).

With ``projection="auto"`` no adapter is created when the widths already match (the
features are compared as they are, as DistilBERT does); ``"always"`` forces one.
Adapters are created on the student's device and dtype, and are trained with the student.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["make_projection"]


def make_projection(student_feat: Tensor, teacher_feat: Tensor, *, always: bool) -> nn.Module:
    """An adapter taking ``student_feat``'s width to ``teacher_feat``'s (or ``nn.Identity``)."""
    if student_feat.dim() == 4:
        c_s, c_t = student_feat.shape[1], teacher_feat.shape[1]
        if c_s == c_t and not always:
            return nn.Identity()
        adapter: nn.Module = nn.Sequential(
            nn.Conv2d(c_s, c_t, kernel_size=1, bias=False), nn.BatchNorm2d(c_t)
        )
    else:
        d_s, d_t = student_feat.shape[-1], teacher_feat.shape[-1]
        if d_s == d_t and not always:
            return nn.Identity()
        adapter = nn.Linear(d_s, d_t)
    return adapter.to(device=student_feat.device, dtype=student_feat.dtype)
