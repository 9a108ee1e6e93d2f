"""Teacher-output cache: computed once, sliced by index, spilled to disk when large."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from potstill.train.cache import TeacherOutputCache, content_hash
from potstill.types import Outputs


def _forward_counter() -> tuple[list[int], object]:
    calls: list[int] = []
    weight = torch.arange(12, dtype=torch.float32).reshape(4, 3)

    def forward(x: torch.Tensor) -> Outputs:
        calls.append(len(x))
        return Outputs(logits=x @ weight[:, :2], hidden=[x @ weight], embedding=x * 2)

    return calls, forward


def test_computed_once_and_sliced_by_index() -> None:
    X = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    calls, forward = _forward_counter()
    cache = TeacherOutputCache()
    first = cache.get("k", forward, X, batch_size=4)  # type: ignore[arg-type]
    second = cache.get("k", forward, X, batch_size=4)  # type: ignore[arg-type]
    assert first is second
    assert calls == [4, 4, 2]  # three batches, once
    assert (cache.hits, cache.misses) == (1, 1)
    idx = torch.tensor([7, 2])
    out = first.take(idx)
    torch.testing.assert_close(out.embedding, torch.from_numpy(X[[7, 2]]) * 2)
    assert out.hidden is not None and out.hidden[0].shape == (2, 3)


def test_spills_to_memory_map_when_over_budget(tmp_path: Path) -> None:
    X = np.random.default_rng(1).normal(size=(50, 4)).astype(np.float32)
    _, forward = _forward_counter()
    in_ram = TeacherOutputCache().get("k", forward, X)  # type: ignore[arg-type]
    spilled = TeacherOutputCache(spill_dir=tmp_path, in_memory_mb=0.0).get("k", forward, X)  # type: ignore[arg-type]
    assert spilled.on_disk and isinstance(spilled.logits, np.memmap)
    idx = torch.tensor([3, 49, 0])
    torch.testing.assert_close(spilled.take(idx).logits, in_ram.take(idx).logits)
    assert list(tmp_path.rglob("*.npy"))


def test_content_hash_changes_with_weights_and_data() -> None:
    torch.manual_seed(0)
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    X = np.zeros((2, 3), np.float32)
    assert content_hash(a, X) == content_hash(a, X.copy())
    assert content_hash(a, X) != content_hash(b, X)
    assert content_hash(a, X) != content_hash(a, X + 1)


def test_content_hash_reads_bfloat16_weights() -> None:
    # numpy has no bfloat16: the hash goes through the raw bytes (LLM teachers load in bf16)
    a = torch.nn.Linear(3, 2).to(torch.bfloat16)
    b = torch.nn.Linear(3, 2).to(torch.bfloat16)
    assert content_hash(a) == content_hash(a) != content_hash(b)
    assert content_hash(torch.tensor(1.5, dtype=torch.bfloat16)) != content_hash(torch.tensor(2.5))
