"""A small convolutional network: the student of an image teacher potstill cannot narrow.

A CNN brought as ONNX or TorchScript is opaque: potstill cannot drop its channels the way
it narrows a potstill MobileNetV2. Its student is this plain CNN — stages of 3×3 conv →
BatchNorm → ReLU with 2×2 max-pooling between them, global average pooling and a linear
head (the small VGG-style nets of the distillation literature) — whose channel width is
chosen so that its parameter count is closest to a budget (:func:`cnn_for_budget`).

Inputs are standardised per channel with statistics stored as buffers
(:meth:`SmallCNN.fit_input_scaling`, from the training images), so the student takes the
same raw pixels as the teacher and the statistics travel with its weights. Stage outputs
``blocks.<k>`` are its hidden layers (feature maps), the pooled vector ``pool`` its embedding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from potstill._validation import check_scalar
from potstill.errors import ConfigError
from potstill.models.registry import register_architecture, spec_field

__all__ = ["SmallCNN", "cnn_for_budget", "cnn_param_count", "cnn_stages"]


def cnn_stages(height: int, width: int) -> int:
    """Stages for an image of this size: 2 below 16 px on the short side, else 3."""
    return 2 if min(height, width) < 16 else 3


def cnn_param_count(in_channels: int, channels: Sequence[int], out_features: int) -> int:
    """Trainable parameters of ``SmallCNN(in_channels, channels, out_features)``: 3×3 convs
    without bias, a BatchNorm weight and bias per channel, the linear head."""
    total, fan_in = 0, in_channels
    for c in channels:
        total += fan_in * c * 9 + 2 * c
        fan_in = c
    return total + fan_in * out_features + out_features


@register_architecture("SmallCNN")
class SmallCNN(nn.Module):
    """Per-channel standardisation → ``blocks.0 … blocks.{S-1}`` → ``pool`` → linear ``head``.

    Parameters
    ----------
    in_channels : int
        Channels of the input images (N, C, H, W).
    channels : sequence of int
        Output channels of each stage; a 2×2 max-pool follows every stage but the last
        while the feature map is at least 2 pixels on its short side.
    out_features : int
        Number of classes, or 1 for regression.
    image_size : (int, int)
        (H, W) of the inputs: fixes where the pools go (the network itself takes any size).
    """

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int],
        out_features: int,
        image_size: Sequence[int],
    ) -> None:
        super().__init__()
        check_scalar(in_channels, "in_channels", owner="SmallCNN", ge=1, integer=True)
        check_scalar(out_features, "out_features", owner="SmallCNN", ge=1, integer=True)
        channels, image_size = [int(c) for c in channels], [int(s) for s in image_size]
        if not channels or min(channels) < 1 or len(image_size) != 2 or min(image_size) < 1:
            raise ConfigError(
                "SmallCNN needs at least one stage of >= 1 channel and image_size (H, W) of "
                f"positive sizes. Got channels={channels}, image_size={image_size} instead."
            )
        self.in_channels, self.out_features = int(in_channels), int(out_features)
        self.channels, self.image_size = channels, image_size
        self.register_buffer("input_mean", torch.zeros(1, self.in_channels, 1, 1))
        self.register_buffer("input_std", torch.ones(1, self.in_channels, 1, 1))
        blocks: list[nn.Module] = []
        fan_in, side = self.in_channels, min(image_size)
        for k, c in enumerate(channels):
            layers: list[nn.Module] = [
                nn.Conv2d(fan_in, c, 3, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(),
            ]
            if k < len(channels) - 1 and side >= 2:
                layers.append(nn.MaxPool2d(2))
                side //= 2
            blocks.append(nn.Sequential(*layers))
            fan_in = c
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.head = nn.Linear(fan_in, self.out_features)

    def fit_input_scaling(self, X: torch.Tensor) -> None:
        """Store the per-channel mean and std of ``X`` (training images, N × C × H × W)."""
        with torch.no_grad():
            dims = (0, 2, 3)
            self.get_buffer("input_mean").copy_(X.mean(dim=dims, keepdim=True))
            self.get_buffer("input_std").copy_(X.std(dim=dims, keepdim=True).clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.get_buffer("input_mean")) / self.get_buffer("input_std")
        for block in self.blocks:
            x = block(x)
        return self.head(self.pool(x))

    def hidden_layer_names(self) -> list[str]:
        """Stage outputs in depth order: ``blocks.0``, ``blocks.1``, …"""
        return [f"blocks.{k}" for k in range(len(self.blocks))]

    def embedding_layer_name(self) -> str:
        return "pool"

    def spec(self) -> dict[str, Any]:
        return {
            "type": "SmallCNN",
            "in_channels": self.in_channels,
            "channels": list(self.channels),
            "out_features": self.out_features,
            "image_size": list(self.image_size),
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> SmallCNN:
        return cls(
            in_channels=spec_field(spec, "in_channels", "SmallCNN"),
            channels=spec_field(spec, "channels", "SmallCNN"),
            out_features=spec_field(spec, "out_features", "SmallCNN"),
            image_size=spec_field(spec, "image_size", "SmallCNN"),
        )


def cnn_for_budget(
    input_shape: Sequence[int], n_outputs: int, target_params: int, *, at_most: bool = False
) -> SmallCNN:
    """A :class:`SmallCNN` for (C, H, W) inputs whose stage widths ``w, 2w, 4w…`` give the
    parameter count closest to ``target_params`` (``at_most``: the largest not above it),
    with at least one channel per stage."""
    if len(input_shape) != 3:
        raise ConfigError(
            f"cnn_for_budget needs an image shape (C, H, W). Got {tuple(input_shape)} instead."
        )
    c_in, height, width = (int(v) for v in input_shape)
    check_scalar(target_params, "target_params", owner="cnn_for_budget", ge=1, integer=True)
    stages = cnn_stages(height, width)

    def count(w: int) -> int:
        return cnn_param_count(c_in, [w * 2**k for k in range(stages)], n_outputs)

    lo, hi = 1, 1
    while count(hi) < target_params:  # grow, then bisect: smallest w with count(w) >= target
        lo, hi = hi, hi * 2
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(mid) < target_params else (lo, mid)
    below = lo > 1 and (at_most or target_params - count(lo - 1) <= count(lo) - target_params)
    w = lo - 1 if below and count(lo) != target_params else lo
    return SmallCNN(c_in, [w * 2**k for k in range(stages)], n_outputs, (height, width))
