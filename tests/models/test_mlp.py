"""MLP: named blocks, shapes, spec round-trip, parameter formula, validated arguments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from potstill.errors import ConfigError
from potstill.models.arch.mlp import MLP, mlp_param_count
from potstill.models.predict import count_params


def test_shapes_and_layer_names() -> None:
    model = MLP(5, [8, 6], 3, dropout=0.1)
    assert model(torch.randn(4, 5)).shape == (4, 3)
    assert model.hidden_layer_names() == ["blocks.0", "blocks.1"]
    assert model.embedding_layer_name() == "blocks.1"
    names = dict(model.named_modules())
    assert all(name in names for name in model.hidden_layer_names())
    assert isinstance(names["head"], torch.nn.Linear)


def test_block_order_is_linear_norm_relu_dropout() -> None:
    block = MLP(3, [4], 2, norm="batch").blocks[0]
    kinds = [type(m) for m in block]
    assert kinds == [torch.nn.Linear, torch.nn.BatchNorm1d, torch.nn.ReLU, torch.nn.Dropout]


def test_layer_norm_accepts_a_batch_of_one_in_training() -> None:
    model = MLP(3, [4], 2).train()
    assert model(torch.randn(1, 3)).shape == (1, 2)


def test_spec_round_trip_is_json_and_rebuilds_same_architecture() -> None:
    model = MLP(5, [8, 6], 3, dropout=0.25, norm="none")
    spec = model.spec()
    assert spec == {
        "type": "MLP",
        "in_features": 5,
        "hidden": [8, 6],
        "out_features": 3,
        "dropout": 0.25,
        "norm": "none",
        "standardize_inputs": False,
    }
    rebuilt = MLP.from_spec(spec)
    assert rebuilt.spec() == spec
    assert [k for k in rebuilt.state_dict()] == [k for k in model.state_dict()]


@pytest.mark.parametrize(
    ("norm", "expected"),
    [
        # Linear 3→4: 12+4, LayerNorm(4): 8, head 4→2: 8+2  → 34
        ("layer", 34),
        # BatchNorm's running stats are buffers, not parameters → same 34
        ("batch", 34),
        ("none", 26),
    ],
)
def test_param_count_formula_matches_hand_count(norm: str, expected: int) -> None:
    assert mlp_param_count(3, [4], 2, norm) == expected
    assert count_params(MLP(3, [4], 2, norm=norm)) == expected  # type: ignore[arg-type]


def test_invalid_arguments_have_sklearn_style_messages() -> None:
    with pytest.raises(ConfigError, match=r"The 'dropout' parameter of MLP must be < 1.0. Got 1.5"):
        MLP(3, [4], 2, dropout=1.5)
    with pytest.raises(ConfigError, match=r"'hidden' parameter of MLP must list at least one"):
        MLP(3, [], 2)
    with pytest.raises(ConfigError, match=r"'norm' parameter of MLP must be one of"):
        MLP(3, [4], 2, norm="group")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"'in_features' parameter of MLP must be >= 1. Got 0"):
        MLP(0, [4], 2)


def test_input_standardisation_travels_with_the_weights(tmp_path: Path) -> None:
    from potstill.models.export import load_model, save_model

    torch.manual_seed(0)
    X = torch.randn(50, 3) * torch.tensor([100.0, 1.0, 0.01]) + torch.tensor([1e3, 0.0, 5.0])
    model = MLP(3, [4], 2, standardize_inputs=True)
    model.fit_input_scaling(X)
    torch.testing.assert_close(model.input_mean, X.mean(0))
    plain = MLP(3, [4], 2)
    plain.load_state_dict(
        {k: v for k, v in model.state_dict().items() if not k.startswith("input_")}
    )
    z = (X - X.mean(0)) / X.std(0)
    torch.testing.assert_close(model.eval()(X), plain.eval()(z))  # same net on standardised rows
    save_model(model, tmp_path / "m")
    torch.testing.assert_close(load_model(tmp_path / "m")(X), model(X))


def test_imputation_fills_nan_with_train_medians_and_survives_onnx_export(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    from potstill.costs import export_onnx
    from potstill.models.export import load_model, save_model

    torch.manual_seed(0)
    X = torch.randn(60, 3) * 10 + 50
    X[::7, 1] = float("nan")
    model = MLP(3, [8], 2, standardize_inputs=True, impute_inputs=True).eval()
    model.fit_input_scaling(X)
    present = X[:, 1][~torch.isnan(X[:, 1])]
    torch.testing.assert_close(model.input_fill[1], present.median())
    row = torch.tensor([[51.0, float("nan"), 49.0]])
    filled = row.clone()
    filled[0, 1] = model.input_fill[1]
    out = model(row)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, model(filled))
    assert model.spec()["impute_inputs"] is True
    save_model(model, tmp_path / "m")
    torch.testing.assert_close(load_model(tmp_path / "m")(row), out)
    path = export_onnx(model, X[:2].nan_to_num().numpy(), tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: row.numpy()})[0]
    np.testing.assert_allclose(got, out.detach().numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError, match="impute_inputs=True"):
        MLP(3, [4], 2, standardize_inputs=True).fit_input_scaling(X)
