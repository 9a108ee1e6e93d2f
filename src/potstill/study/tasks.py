"""Turn a system's dataset spec into a Task (the only place the study touches the data box)."""

from __future__ import annotations

from collections.abc import Sequence

from potstill.config import SystemSpec
from potstill.data import load_builtin, load_table, load_text_corpus
from potstill.types import Task

__all__ = ["load_task", "raw_features"]


def raw_features(spec: SystemSpec) -> bool:
    """Whether features reach the models unencoded (a teacher file expects its own inputs)."""
    encode = spec.dataset.encode
    return encode is False or (encode is None and spec.teacher.path is not None)


def load_task(spec: SystemSpec, *, seed: int, classes: Sequence[str] | None = None) -> Task:
    """Load a built-in dataset or the user's file, honouring the spec's overrides.

    ``classes`` is the teacher's class order (default: the spec's ``classes``, else the
    labels sorted); a label outside it is refused with its row."""
    ds = spec.dataset
    if ds.builtin is not None:
        return load_builtin(ds.builtin, seed=seed, max_rows=ds.max_rows)
    assert ds.path is not None  # guaranteed by DatasetSpec
    if ds.problem == "embedding":
        assert ds.text_column is not None  # guaranteed by DatasetSpec
        return load_text_corpus(
            ds.path,
            ds.text_column,
            name=spec.name,
            sector=spec.sector or "other",
            seed=seed if ds.split.seed is None else ds.split.seed,
            val_size=ds.split.val_share,
            test_size=ds.split.test_share,
            max_rows=ds.max_rows,
        )
    assert ds.target is not None  # guaranteed by DatasetSpec
    return load_table(
        ds.path,
        ds.target,
        problem=ds.problem,
        name=spec.name,
        sector=spec.sector or "other",
        sensitive=ds.sensitive,
        sensitive_is_feature=ds.sensitive_is_feature,
        text_column=ds.text_column,
        drop=ds.drop,
        positive_label=ds.positive_label,
        classes=ds.classes if classes is None else classes,
        seed=seed,
        split=ds.split,
        max_rows=ds.max_rows,
        encode=not raw_features(spec),
    )
