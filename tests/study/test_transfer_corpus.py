"""A text system's transfer corpus in the study: tokenised like the training texts, every
row that equals a training, validation or test row dropped (as the models read them: an
uncased tokenizer makes "GOOD drug" the test text "good drug"), ``size`` capping the rest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from potstill.data.text import encode_task, encode_texts
from potstill.data.transfer_spec import TransferSpec
from potstill.errors import DataError
from potstill.models import HFClassifier
from potstill.models.llm_label import PromptTemplate
from potstill.models.teacher import Teacher
from potstill.study.transfer_corpus import corpus_rows
from potstill.types import DatasetInfo, Split, Task
from potstill.zoo.llm import llm_label_teacher

transformers = pytest.importorskip("transformers")

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "drug", "pain", "great"]


def _model() -> HFClassifier:
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(WORDS), hidden_size=8, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=16,
                                     max_position_embeddings=16)  # fmt: skip
    tokenizer = transformers.BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})
    return HFClassifier(transformers.AutoModel.from_config(config), num_labels=2,
                        tokenizer=tokenizer, max_length=6)  # fmt: skip


def _task(model: HFClassifier) -> Task:
    def split(*texts: str) -> Split:
        return Split(np.asarray(texts, dtype=object), np.arange(len(texts)) % 2)

    raw = Task(
        name="reviews", sector="healthcare", kind="text", problem="classification",
        train=split("bad drug", "great pain", "good", "bad"), val=split("pain", "drug"),
        test=split("good drug", "bad pain"), metric="accuracy", n_classes=2,
        feature_names=("review",), info=DatasetInfo("reviews", "test", "n/a"),
    )  # fmt: skip
    return encode_task(raw, model.tokenizer, model.max_length)


def _corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    lines = ["GOOD  drug", "great great", "", "bad drug", "drug", "great great", "pain pain"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_corpus_loses_every_split_row_and_its_repeats(tmp_path: Path) -> None:
    model = _model()
    task = _task(model)
    spec = TransferSpec(kind="file", path=_corpus(tmp_path))
    rows, info = corpus_rows(spec, task, Teacher.from_torch(model, problem="classification"), model)
    assert info == {"texts": 7, "empty": 1, "in_train": 1, "in_val": 1, "in_test": 1,
                    "repeated": 1, "over_size": 0, "kept": 2, "texts_cut": 0}  # fmt: skip
    np.testing.assert_array_equal(
        rows, encode_texts(["great great", "pain pain"], model.tokenizer, model.max_length)
    )
    known = {r.tobytes() for s in (task.train, task.val, task.test) for r in s.X}
    assert not {r.tobytes() for r in rows} & known


def test_size_caps_the_kept_rows_and_a_corpus_of_known_texts_is_refused(tmp_path: Path) -> None:
    model = _model()
    task, teacher = _task(model), Teacher.from_torch(model, problem="classification")
    capped = TransferSpec(kind="file", path=_corpus(tmp_path), size=0.25)  # 1 of 4 train rows
    rows, info = corpus_rows(capped, task, teacher, model)
    assert len(rows) == 1 and info["kept"] == 1 and info["over_size"] == 1
    known = tmp_path / "known.txt"
    known.write_text("good drug\nBad Pain\npain\n")
    with pytest.raises(DataError, match=r"none of the 3 texts .* 2 test texts"):
        corpus_rows(TransferSpec(kind="file", path=known), task, teacher, model)


def test_an_llm_teacher_is_told_the_text_of_each_kept_row(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(WORDS), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
        tie_word_embeddings=True, pad_token_id=0,
    )  # fmt: skip
    model = _model()
    template = PromptTemplate(template="{text} drug", label_words=("bad", "good"))
    teacher = llm_label_teacher(transformers.LlamaForCausalLM(config).eval(), model.tokenizer,
                                template)  # fmt: skip
    spec = TransferSpec(kind="file", path=_corpus(tmp_path))
    rows, _ = corpus_rows(spec, _task(model), teacher, model)
    out = teacher.outputs(torch.from_numpy(rows)).logits.exp().numpy()
    expected = teacher.predict_scores(np.array(["great great", "pain pain"], dtype=object))
    np.testing.assert_allclose(out, expected, rtol=1e-5)
