"""Teacher-output cache: the most expensive model in the loop runs once per dataset.

Offline KD: the teacher is frozen, so its logits and hooked features on the training
split do not change between epochs or between methods. They are computed once, keyed by
a content hash of (teacher weights, inputs, captured layers), held in memory — or
memory-mapped from disk when larger than a budget — and sliced by row index per batch.
With random augmentation the inputs change every step, so the cache cannot apply; the
distiller then calls the teacher per batch and says so in the log.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from potstill.types import Outputs

__all__ = ["CachedOutputs", "TeacherOutputCache", "content_hash"]

log = logging.getLogger(__name__)


def _tensor_bytes(t: torch.Tensor) -> bytes:
    """The tensor's raw memory; through a byte view for dtypes numpy lacks (bfloat16)."""
    t = t.detach().cpu().contiguous()
    try:
        return t.numpy().tobytes()
    except TypeError:
        return t.reshape(-1).view(torch.uint8).numpy().tobytes()


def content_hash(*parts: object) -> str:
    """sha256 over tensors, arrays, module state dicts and plain values, in order."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.nn.Module):
            for name, tensor in sorted(part.state_dict().items()):
                h.update(name.encode())
                h.update(_tensor_bytes(tensor))
        elif isinstance(part, torch.Tensor):
            h.update(_tensor_bytes(part))
        elif isinstance(part, np.ndarray):
            if part.dtype == object:
                h.update("\x1f".join(map(str, part.tolist())).encode())
            else:
                h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(repr(part).encode())
        h.update(b"\x1e")
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class CachedOutputs:
    """Teacher outputs for every row of a split, sliceable by row index."""

    logits: torch.Tensor | np.ndarray
    hidden: tuple[torch.Tensor | np.ndarray, ...]
    embedding: torch.Tensor | np.ndarray | None
    on_disk: bool

    def take(self, index: torch.Tensor, fields: frozenset[str] | None = None) -> Outputs:
        """The rows ``index`` (in that order) of ``fields`` (all when None); logits always."""
        idx = index.cpu().numpy() if self.on_disk else index

        def pick(t: torch.Tensor | np.ndarray) -> torch.Tensor:
            if isinstance(t, np.ndarray):
                return torch.from_numpy(np.ascontiguousarray(t[idx]))
            return t[idx]

        wants = fields if fields is not None else frozenset({"hidden", "embedding"})
        hidden = [pick(h) for h in self.hidden] if "hidden" in wants else []
        embedding = self.embedding if "embedding" in wants else None
        return Outputs(
            logits=pick(self.logits),
            hidden=hidden or None,
            embedding=None if embedding is None else pick(embedding),
        )

    def nbytes(self, fields: frozenset[str]) -> int:
        """Bytes of the logits and of ``fields`` (what one epoch's reordered copy costs)."""
        arrays = [self.logits, *(self.hidden if "hidden" in fields else ())]
        if "embedding" in fields and self.embedding is not None:
            arrays.append(self.embedding)
        return sum(a.nbytes if isinstance(a, np.ndarray) else a.numel() * a.element_size()
                   for a in arrays)  # fmt: skip


class TeacherOutputCache:
    """Computes a teacher's outputs on a split once; owned by a study run, passed explicitly."""

    def __init__(self, spill_dir: Path | None = None, in_memory_mb: float = 512.0) -> None:
        self.spill_dir = spill_dir
        self.in_memory_mb = in_memory_mb
        self._entries: dict[str, CachedOutputs] = {}
        self.hits = 0
        self.misses = 0

    def holds(self, key: str) -> bool:
        """Whether outputs under ``key`` are already computed."""
        return key in self._entries

    def get(
        self,
        key: str,
        forward: Callable[[torch.Tensor], Outputs],
        X: np.ndarray,
        batch_size: int = 512,
    ) -> CachedOutputs:
        """Outputs of ``forward`` on every row of ``X``, computed on the first call per key."""
        if key in self._entries:
            self.hits += 1
            return self._entries[key]
        self.misses += 1
        chunks: list[Outputs] = []
        with torch.no_grad():
            for start in range(0, len(X), batch_size):
                chunks.append(forward(torch.from_numpy(X[start : start + batch_size])))
        logits = torch.cat([c.logits for c in chunks])
        n_hidden = len(chunks[0].hidden or ())
        hidden = tuple(
            torch.cat([c.hidden[i] for c in chunks if c.hidden]) for i in range(n_hidden)
        )
        embedding = None
        if chunks[0].embedding is not None:
            embedding = torch.cat([c.embedding for c in chunks if c.embedding is not None])
        entry = self._store(key, logits, hidden, embedding)
        self._entries[key] = entry
        return entry

    def _store(
        self,
        key: str,
        logits: torch.Tensor,
        hidden: Sequence[torch.Tensor],
        embedding: torch.Tensor | None,
    ) -> CachedOutputs:
        tensors = [logits, *hidden] + ([embedding] if embedding is not None else [])
        size_mb = sum(t.numel() * t.element_size() for t in tensors) / 2**20
        if self.spill_dir is None or size_mb <= self.in_memory_mb:
            return CachedOutputs(logits, tuple(hidden), embedding, on_disk=False)
        folder = self.spill_dir / key[:16]
        folder.mkdir(parents=True, exist_ok=True)
        log.info(
            "teacher outputs: %.0f MB > %.0f MB budget, memory-mapped under %s",
            size_mb,
            self.in_memory_mb,
            folder,
        )

        def spill(name: str, t: torch.Tensor) -> np.ndarray:
            path = folder / f"{name}.npy"
            arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=tuple(t.shape))
            arr[...] = t.numpy()
            arr.flush()
            del arr
            return np.load(path, mmap_mode="r")

        return CachedOutputs(
            spill("logits", logits),
            tuple(spill(f"hidden{i}", h) for i, h in enumerate(hidden)),
            None if embedding is None else spill("embedding", embedding),
            on_disk=True,
        )
