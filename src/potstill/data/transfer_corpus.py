"""An unlabelled text corpus as a text system's transfer set.

For a text system, ``transfer: {kind: file, path: ...}`` names a corpus: a ``.txt`` file
(one text per line), or a CSV, JSONL or Parquet file whose text column is the one the
system's training texts come from. :func:`read_corpus` reads it (surrounding whitespace
stripped, empty texts dropped). Once the texts are tokenised like the training texts,
:func:`potstill.data.unseen.unseen_rows` (the rule a table's transfer file follows too)
drops every row that equals a training, validation or test row (so no test input reaches
training, not even as a transfer row) and every repeat within the corpus, and counts what
it dropped. Rows are compared as the models see them (token ids):
two texts that tokenise alike (case or spacing under an uncased tokenizer, or the same
first ``max_length`` tokens) are one row.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from potstill.data.columns import present, read_table
from potstill.errors import DataError

__all__ = ["CORPUS_SUFFIXES", "read_corpus"]

#: The corpus formats and how each holds its texts.
CORPUS_SUFFIXES = {
    ".txt": "one text per line",
    ".csv": "the text column",
    ".jsonl": "the text column (one JSON object per line)",
    ".parquet": "the text column",
    ".pq": "the text column",
}


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(
            f"The transfer corpus {path} is not UTF-8 text ({exc.reason} at byte {exc.start}). "
            "Save it as UTF-8."
        ) from exc


def _read_jsonl(path: Path) -> pd.DataFrame:
    objects = []
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"Line {number} of the transfer corpus {path} is not JSON ({exc.msg}): "
                f"{line[:80]!r}. Expected one JSON object per line."
            ) from exc
        if not isinstance(item, dict):
            raise DataError(
                f"Line {number} of the transfer corpus {path} holds a {type(item).__name__}, "
                "not a JSON object. Expected one object per line with the text column as a key."
            )
        objects.append(item)
    return pd.DataFrame(objects)


def _column(path: Path, text_column: str) -> pd.Series:
    """The text column of a tabular corpus; refused naming the columns found."""
    suffix = path.suffix.lower()
    frame = _read_jsonl(path) if suffix == ".jsonl" else read_table(path)[0]
    if text_column not in frame.columns:
        raise DataError(
            f"The transfer corpus {path} has no column '{text_column}', the text column of "
            f"this system's training texts; its columns are {list(frame.columns)}. Name the "
            "column of texts so, or give a .txt file with one text per line."
        )
    return frame[text_column]


def read_corpus(path: Path, text_column: str) -> tuple[np.ndarray, int]:
    """(the corpus's texts as an object array, how many empty ones were dropped).

    A ``.txt`` file is one text per line; a CSV, JSONL or Parquet file is read by
    ``text_column``. Texts are stripped of surrounding whitespace; a corpus with no text
    left is refused."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CORPUS_SUFFIXES:
        valid = ", ".join(f"{s} ({how})" for s, how in CORPUS_SUFFIXES.items())
        raise DataError(
            f"The transfer corpus {path} has an unsupported extension {path.suffix!r}. "
            f"Supported: {valid}."
        )
    if not path.is_file():
        raise DataError(f"The transfer corpus {path} does not exist or is not a file.")
    column = (
        pd.Series(_lines(path), dtype=object) if suffix == ".txt" else _column(path, text_column)
    )
    has_text = present(column)
    texts = column[has_text].astype(str).str.strip().to_numpy(dtype=object)
    if len(texts) == 0:
        where = "line" if suffix == ".txt" else f"'{text_column}' cell"
        raise DataError(
            f"The transfer corpus {path} holds no text: every {where} of its {len(column)} "
            "is empty. Give a corpus of unlabelled texts."
        )
    return texts, int((~has_text).sum())
