"""Tiny seeded models and data shared by the costs tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from potstill.costs import BenchConfig


def mlp(width: int, seed: int, d_in: int = 8, d_out: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, width), nn.ReLU(), nn.Linear(width, d_out)).eval()


@pytest.fixture
def rows() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)


@pytest.fixture
def teacher() -> nn.Module:
    return mlp(32, seed=0)


@pytest.fixture
def student() -> nn.Module:
    return mlp(4, seed=1)


@pytest.fixture
def quick() -> BenchConfig:
    """Quick preset, smaller still: these tests check logic, never timings."""
    return BenchConfig.quick(
        min_calls=20, min_seconds=0.01, sweep_min_calls=5, sweep_min_seconds=0.0, batch_sizes=(1, 8)
    )


@pytest.fixture
def make_mlp() -> Callable[..., nn.Module]:
    """The seeded MLP builder (importlib mode: tests cannot import conftest directly)."""
    return mlp
