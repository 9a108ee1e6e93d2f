"""SmallCNN: the student of an opaque image teacher — size, budget, taps, save and export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from potstill.costs import export_onnx
from potstill.errors import ConfigError
from potstill.models import FeatureTap, SmallCNN, StudentSpec, load_model, save_model
from potstill.models.arch.cnn import cnn_for_budget, cnn_param_count
from potstill.models.predict import count_params
from potstill.models.students import student_for_images


@pytest.mark.parametrize(
    ("shape", "channels"), [((1, 8, 8), [3, 6]), ((3, 28, 28), [4, 8, 16]), ((1, 1, 1), [2])]
)
def test_param_count_formula_matches_the_module(
    shape: tuple[int, int, int], channels: list[int]
) -> None:
    model = SmallCNN(shape[0], channels, 10, shape[1:])
    assert cnn_param_count(shape[0], channels, 10) == count_params(model)
    out = model(torch.rand(2, *shape))
    assert out.shape == (2, 10)


def test_budget_picks_the_closest_width_and_stages_follow_the_image_size() -> None:
    for budget in (50, 700, 5_000, 60_000):
        model = cnn_for_budget((1, 8, 8), 10, budget)
        w = model.channels[0]
        assert model.channels == [w, 2 * w]  # 2 stages below 16 px
        best = min(range(1, 200), key=lambda v: abs(cnn_param_count(1, [v, 2 * v], 10) - budget))
        assert w == best or budget < cnn_param_count(1, [1, 2], 10)
    assert len(cnn_for_budget((3, 32, 32), 5, 10_000).channels) == 3
    # a budget from the teacher's size is never exceeded; target_params is matched closest
    at_most = student_for_images((1, 8, 8), 10, StudentSpec(width=0.5), 2_000)
    assert at_most.spec() == cnn_for_budget((1, 8, 8), 10, 2_000, at_most=True).spec()
    w = at_most.channels[0]  # the widest CNN within the budget
    assert count_params(at_most) <= 2_000 < cnn_param_count(1, [w + 1, 2 * w + 2], 10)
    explicit = student_for_images((1, 8, 8), 10, StudentSpec(target_params=900), 900)
    assert explicit.spec() == cnn_for_budget((1, 8, 8), 10, 900).spec()
    with pytest.raises(ConfigError, match="hidden sizes an MLP student"):
        student_for_images((1, 8, 8), 10, StudentSpec(hidden=[8]), 2_000)


def test_inputs_are_standardised_per_channel_with_stored_statistics(tmp_path: Path) -> None:
    torch.manual_seed(0)
    X = torch.rand(64, 3, 8, 8) * 255  # raw pixels, as a teacher file may take them
    model = SmallCNN(3, [4, 8], 2, (8, 8))
    model.fit_input_scaling(X)
    mean = model.get_buffer("input_mean").flatten()
    np.testing.assert_allclose(mean.numpy(), X.mean(dim=(0, 2, 3)).numpy(), rtol=1e-5)
    save_model(model.eval(), tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert isinstance(again, SmallCNN) and again.spec() == model.spec()
    torch.testing.assert_close(again(X[:4]), model(X[:4]))
    path = export_onnx(model, X[:4].numpy(), tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: X[:4].numpy()})[0]
    np.testing.assert_allclose(got, model(X[:4]).detach().numpy(), rtol=1e-4, atol=1e-4)


def test_stage_outputs_are_hidden_maps_and_the_pool_its_embedding() -> None:
    model = SmallCNN(1, [4, 8, 16], 3, (28, 28)).eval()
    assert model.hidden_layer_names() == ["blocks.0", "blocks.1", "blocks.2"]
    with FeatureTap(model, hidden=model.hidden_layer_names(), embedding="pool") as tap:
        out = tap(torch.rand(2, 1, 28, 28))
    assert [tuple(h.shape) for h in out.hidden] == [(2, 4, 14, 14), (2, 8, 7, 7), (2, 16, 7, 7)]
    assert out.embedding.shape == (2, 16)


def test_refusals() -> None:
    with pytest.raises(ConfigError, match="at least one stage"):
        SmallCNN(1, [], 2, (8, 8))
    with pytest.raises(ConfigError, match=r"image shape \(C, H, W\)"):
        cnn_for_budget((64,), 2, 100)
