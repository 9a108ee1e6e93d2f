"""A user's texts as an embedding system: no target, the teacher's embeddings are the targets.

Read and checked like any user table (:func:`potstill.data.table.read_table`); rows
without text are dropped, and the splits are a seeded shuffle.
"""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import numpy as np

from potstill._validation import check_choice, check_scalar
from potstill.data.columns import check_columns, present, read_table
from potstill.errors import DataError
from potstill.types import DatasetInfo, Sector, Split, Task

__all__ = ["load_text_corpus"]


def load_text_corpus(
    path: Path,
    text_column: str,
    *,
    name: str | None = None,
    sector: Sector = "other",
    seed: int = 0,
    val_size: float = 0.2,
    test_size: float = 0.2,
    max_rows: int | None = None,
    k: int = 10,
) -> Task:
    """A user's texts as an embedding system: no target, the teacher's embeddings are the
    targets and ``recall@k`` of its neighbours the metric. Rows without text are dropped
    (refused if more than half); the splits are a seeded shuffle."""
    check_choice(sector, "sector", owner="load_text_corpus", choices=get_args(Sector))
    check_scalar(seed, "seed", owner="load_text_corpus", ge=0, integer=True)
    check_scalar(k, "k", owner="load_text_corpus", ge=1, integer=True)
    path = Path(path)
    frame, _ = read_table(path)
    check_columns(path, list(frame.columns), "text column", [text_column])
    has_text = present(frame[text_column])
    n_missing = int((~has_text).sum())
    if n_missing > len(frame) / 2:
        raise DataError(
            f"The text column '{text_column}' of {path} is empty in {n_missing} of {len(frame)} "
            "rows (more than half). Choose the column that holds the texts."
        )
    texts = frame.loc[has_text, text_column].astype(str).str.strip().to_numpy(dtype=object)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(texts))
    if max_rows is not None:
        check_scalar(max_rows, "max_rows", owner="load_text_corpus", gt=0, integer=True)
        order = order[:max_rows]
    n_test, n_val = round(len(order) * test_size), round(len(order) * val_size)
    if len(order) - n_test - n_val < 2 or n_test < k + 1:
        raise DataError(
            f"{path} has {len(order)} usable texts: too few for a test split of more than "
            f"k={k} texts and a distillation set. Give at least {int((k + 1) / test_size) + 1}."
        )
    parts = np.split(order, [len(order) - n_test - n_val, len(order) - n_test])
    title = name or path.stem
    splits = [Split(X=texts[np.sort(p)], y=np.zeros(len(p), dtype=np.int64)) for p in parts]
    note = f"Dropped {n_missing} row(s) without text." if n_missing else ""
    return Task(
        name=title, sector=sector, kind="text", problem="embedding", train=splits[0],
        val=splits[1], test=splits[2], metric=f"recall@{k}", n_classes=0,
        feature_names=(text_column,),
        info=DatasetInfo(name=title, source=str(path), licence="unknown (user file)",
                         note=note, n_rows=len(order), n_features=1),
    )  # fmt: skip
