"""A text system's transfer corpus: read, tokenised like the training texts, cleaned of
every text the system trains, validates or tests on, and bound to an LLM teacher.

``transfer: {kind: file, path: corpus.txt}`` on a text system names unlabelled texts
(:mod:`potstill.data.transfer_corpus` reads them). They are tokenised with the tokenizer
and length the training texts were tokenised with, and a row equal to a training,
validation or test row is dropped (counted in the record), so a test text never reaches
training as a transfer row. ``size`` caps the rows kept at that multiple of the training
rows (the first ones in the file). An LLM teacher is told which text each kept row is, as
for the training texts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from potstill.config import TransferSpec
from potstill.errors import DataError, ModelError
from potstill.models.hf.model import HFClassifier
from potstill.models.llm_label import LLMLabelBackend
from potstill.models.teacher import Teacher
from potstill.study.tasks import count_truncated, encode_texts, read_corpus, unseen_rows
from potstill.types import Task

__all__ = ["corpus_rows"]


def _encoder(task: Task, text_model: HFClassifier | None) -> HFClassifier:
    if text_model is None or text_model.tokenizer is None:
        raise ModelError(
            f"System '{task.name}': a transfer corpus is tokenised with the tokenizer of the "
            "training texts, and this system has none. Use a Hugging Face teacher folder "
            "with its tokenizer (or teacher.llm)."
        )
    return text_model


def corpus_rows(
    spec: TransferSpec, task: Task, teacher: Teacher, text_model: HFClassifier | None
) -> tuple[np.ndarray, dict[str, Any]]:
    """(the corpus's rows as token ids, none of them a row of ``task``'s splits; the
    record's account of what was read, dropped and kept).

    ``task`` is the tokenised task with all its training rows (labelled or not)."""
    assert spec.kind == "file" and spec.path is not None  # refused before, in system_rows
    model = _encoder(task, text_model)
    texts, empty = read_corpus(spec.path, task.feature_names[0])
    rows = encode_texts(texts, model.tokenizer, model.max_length)
    splits = {"train": task.train.X, "val": task.val.X, "test": task.test.X}
    keep, dropped = unseen_rows(rows, splits)
    if len(keep) == 0:
        raise DataError(
            f"System '{task.name}': none of the {len(texts)} texts of the transfer corpus "
            f"{spec.path} is new: {dropped['train']} are training texts, {dropped['val']} "
            f"validation texts, {dropped['test']} test texts and {dropped['repeated']} repeats "
            f"(compared as the models read them, {model.max_length} tokens). Give texts the "
            "system does not already hold."
        )
    cap = None if spec.size is None else max(1, round(len(task.train.X) * spec.size))
    over = 0 if cap is None else max(0, len(keep) - cap)
    keep = keep[:cap]
    engine = teacher.engine
    if isinstance(engine, LLMLabelBackend):  # the LLM answers for rows it knows the text of
        engine.bind(rows[keep], texts[keep])
    info = {
        "texts": len(texts) + empty,
        "empty": empty,
        **{f"in_{name}": dropped[name] for name in splits},
        "repeated": dropped["repeated"],
        "over_size": over,
        "kept": len(keep),
        "texts_cut": count_truncated(texts[keep], model.tokenizer, model.max_length),
    }
    return rows[keep], info
