"""A text transfer corpus: .txt (a text per line), CSV, JSONL or Parquet by the text column;
empty texts dropped and counted; rows equal to a split's rows or to an earlier row dropped
and counted; clear refusals for a missing column, an empty corpus or another format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from potstill.data.transfer_corpus import read_corpus
from potstill.data.unseen import unseen_rows
from potstill.errors import DataError


def test_a_txt_corpus_is_a_text_per_line_without_empty_ones(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text("  good drug \n\n   \nbad pain\r\nit was great\n", encoding="utf-8")
    texts, empty = read_corpus(path, "review")
    assert list(texts) == ["good drug", "bad pain", "it was great"] and empty == 2


def test_csv_jsonl_and_parquet_corpora_are_read_by_the_text_column(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [1, 2, 3], "review": ["good drug", None, " awful "]})
    frame.to_csv(tmp_path / "c.csv", index=False)
    frame.to_json(tmp_path / "c.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "c.parquet")
    for name in ("c.csv", "c.jsonl", "c.parquet"):
        texts, empty = read_corpus(tmp_path / name, "review")
        assert list(texts) == ["good drug", "awful"] and empty == 1, name


def test_a_corpus_without_the_text_column_is_refused_naming_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    pd.DataFrame({"text": ["a"], "stars": [3]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"has no column 'review'.*columns are \['text', 'stars'\]"):
        read_corpus(path, "review")


def test_an_empty_corpus_and_an_unknown_format_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "c.txt"
    empty.write_text("\n  \n\n")
    with pytest.raises(DataError, match=r"holds no text: every line of its 3 is empty"):
        read_corpus(empty, "review")
    other = tmp_path / "c.docx"
    other.write_text("good")
    with pytest.raises(DataError, match=r"unsupported extension '\.docx'.*\.txt \(one text"):
        read_corpus(other, "review")
    bad = tmp_path / "c.jsonl"
    bad.write_text('{"review": "good"}\nnot json\n')
    with pytest.raises(DataError, match=r"Line 2 of the transfer corpus .* is not JSON"):
        read_corpus(bad, "review")


def _row(*ids: int) -> np.ndarray:
    """An encoded text: its token ids and attention mask."""
    return np.array([list(ids), [1] * len(ids)], dtype=np.int64)


def test_rows_of_a_split_and_repeats_are_dropped_and_counted() -> None:
    row = _row
    train, val, test = np.stack([row(1, 2)]), np.stack([row(3, 4)]), np.stack([row(5, 6)])
    corpus = np.stack([row(7, 8), row(5, 6), row(1, 2), row(7, 8), row(9, 9), row(3, 4)])
    keep, dropped = unseen_rows(corpus, {"train": train, "val": val, "test": test})
    assert keep.tolist() == [0, 4]
    assert dropped == {"train": 1, "val": 1, "test": 1, "repeated": 1}
    kept = {r.tobytes() for r in corpus[keep]}
    assert not kept & {r.tobytes() for r in np.concatenate([train, val, test])}
