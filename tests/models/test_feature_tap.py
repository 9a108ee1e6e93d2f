"""FeatureTap and uniform_layer_map."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from potstill.errors import ConfigError, ModelError
from potstill.models.arch.mlp import MLP
from potstill.models.hooks import FeatureTap, check_layer_names, uniform_layer_map


def _hook_count(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in module.modules())


def test_capture_equals_manual_forward() -> None:
    torch.manual_seed(0)
    model = MLP(4, [5, 6, 7], 3).eval()
    x = torch.randn(9, 4)
    with torch.no_grad(), FeatureTap(model, ["blocks.0", "blocks.2"], "blocks.1") as tap:
        out = tap(x)
        h0 = model.blocks[0](x)
        h1 = model.blocks[1](h0)
        h2 = model.blocks[2](h1)
        logits = model.head(h2)
    assert out.hidden is not None and len(out.hidden) == 2
    torch.testing.assert_close(out.hidden[0], h0)
    torch.testing.assert_close(out.hidden[1], h2)  # order as requested
    torch.testing.assert_close(out.embedding, h1)
    torch.testing.assert_close(out.logits, logits)
    assert out.available() == {"logits", "hidden", "embedding"}


def test_gradients_flow_through_captured_features() -> None:
    model = MLP(4, [5], 2)
    with FeatureTap(model, ["blocks.0"]) as tap:
        out = tap(torch.randn(3, 4))
    assert out.hidden is not None
    out.hidden[0].sum().backward()
    assert model.blocks[0][0].weight.grad is not None


def test_logits_only_tap_returns_no_hidden() -> None:
    model = MLP(4, [5], 2)
    with FeatureTap(model) as tap:
        out = tap(torch.randn(3, 4))
    assert out.hidden is None and out.embedding is None
    assert out.available() == {"logits"}


def test_hooks_removed_after_close_and_context_exit() -> None:
    model = MLP(4, [5, 6], 3)
    tap = FeatureTap(model, ["blocks.0", "blocks.1"], "blocks.1")
    assert _hook_count(model) == 2  # blocks.1 is hooked once for hidden and embedding
    tap.close()
    assert _hook_count(model) == 0
    tap.close()  # idempotent
    with pytest.raises(ModelError, match="closed"):
        tap(torch.randn(2, 4))
    with FeatureTap(model, ["blocks.0"]):
        assert _hook_count(model) == 1
    assert _hook_count(model) == 0


def test_embedding_with_more_than_two_dims_is_flattened() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    with torch.no_grad(), FeatureTap(model, ["0"], embedding="0") as tap:
        out = tap(torch.randn(5, 1, 4, 4))
    assert out.hidden is not None and out.hidden[0].shape == (5, 2, 4, 4)  # hidden kept as is
    assert out.embedding.shape == (5, 32)
    torch.testing.assert_close(out.embedding, out.hidden[0].reshape(5, -1))


def test_unknown_layer_lists_valid_names_and_suggests() -> None:
    model = MLP(4, [5, 6], 3)
    with pytest.raises(ModelError) as info:
        FeatureTap(model, ["blocks.5", "blok.0"])
    message = str(info.value)
    assert "Unknown layer name(s) 'blocks.5', 'blok.0' for FeatureTap on MLP" in message
    assert "did you mean 'blocks.0'" in message
    assert "'blocks.1.0'" in message and "'head'" in message
    assert _hook_count(model) == 0  # nothing registered on failure


def test_long_lists_of_valid_names_are_truncated() -> None:
    model = nn.Sequential(*[nn.Linear(2, 2) for _ in range(100)])
    with pytest.raises(ModelError) as info:
        check_layer_names(model, ["nope"])
    message = str(info.value)
    assert "Valid module names (100)" in message
    assert "(70 more)" in message  # 20 first + 10 last shown
    assert "'0'" in message and "'99'" in message and "'50'" not in message


def test_layer_not_on_forward_path_is_reported() -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(2, 2)
            self.unused = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(x)

    with FeatureTap(Branchy(), ["unused"]) as tap, pytest.raises(ModelError, match="did not run"):
        tap(torch.randn(1, 2))


@pytest.mark.parametrize(
    ("n_teacher", "n_student", "expected"),
    [
        # TinyBERT/DistilBERT: every second teacher layer, ending on the last (index 11)
        (12, 6, [(0, 1), (1, 3), (2, 5), (3, 7), (4, 9), (5, 11)]),
        (6, 3, [(0, 1), (1, 3), (2, 5)]),
        (4, 4, [(0, 0), (1, 1), (2, 2), (3, 3)]),
        # round half up: 5/2 = 2.5 → 3 → index 2; 5 → index 4
        (5, 2, [(0, 2), (1, 4)]),
        # student deeper than teacher: 0.25 → 0 → -1 clipped to 0; 0.5 → 1 → 0; …
        (1, 4, [(0, 0), (1, 0), (2, 0), (3, 0)]),
        (3, 1, [(0, 2)]),
    ],
)
def test_uniform_layer_map(n_teacher: int, n_student: int, expected: list[tuple[int, int]]) -> None:
    assert uniform_layer_map(n_teacher, n_student) == expected


def test_uniform_layer_map_validates() -> None:
    with pytest.raises(
        ConfigError, match="'n_student' parameter of uniform_layer_map must be >= 1"
    ):
        uniform_layer_map(4, 0)
