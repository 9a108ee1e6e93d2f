"""BenchConfig: defaults, presets, validation messages, documented fields."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from potstill.costs import PRESETS, BenchConfig
from potstill.errors import ConfigError


def test_defaults_follow_the_issue() -> None:
    config = BenchConfig()
    assert (config.warmup, config.min_calls, config.min_seconds, config.threads) == (
        20,
        200,
        5.0,
        1,
    )
    assert config.runtimes == ("eager", "onnx", "onnx-int8")
    assert all(field.description for field in BenchConfig.model_fields.values())


def test_presets_and_overrides() -> None:
    quick, paper = BenchConfig.quick(), BenchConfig.paper(threads=2)
    assert quick.memory is False and quick.min_calls < BenchConfig().min_calls
    assert paper.min_calls >= 662 and paper.min_seconds > BenchConfig().min_seconds
    assert paper.threads == 2
    assert set(PRESETS) == {"default", "quick", "paper"}
    with pytest.raises(ConfigError, match=r"Unknown benchmark preset 'fast'\. Valid presets"):
        BenchConfig.preset("fast")


def test_invalid_settings_are_refused_with_the_field_named() -> None:
    with pytest.raises(
        ConfigError, match=r"'warmup' Input should be greater than or equal to 10 \(got 3\)"
    ):
        BenchConfig.quick(warmup=3)
    with pytest.raises(ConfigError, match=r"'runtimes' .*eager, compile, onnx, onnx-int8"):
        BenchConfig.quick(runtimes=("eager", "tensorrt"))
    with pytest.raises(ConfigError, match=r"'batch_sizes' .*distinct positive"):
        BenchConfig.quick(batch_sizes=(1, 1))
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        BenchConfig(colour="red")  # type: ignore[call-arg]
    assert BenchConfig(batch_sizes=(32, 1)).batch_sizes == (1, 32)
