"""LLM → classifier: a tiny random Llama's label-word probabilities distilled (KD) into a
potstill text classifier (a tiny BERT HFClassifier), each text scored by the LLM once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from potstill.data.text import encode_task  # noqa: E402
from potstill.methods import MethodSpec, build_objective  # noqa: E402
from potstill.models import HFClassifier  # noqa: E402
from potstill.models.llm_label import PromptTemplate  # noqa: E402
from potstill.train.cache import TeacherOutputCache  # noqa: E402
from potstill.train.config import TrainConfig  # noqa: E402
from potstill.train.distill import train  # noqa: E402
from potstill.types import DatasetInfo, Split, Task  # noqa: E402
from potstill.zoo.llm import bind_task, llm_label_teacher  # noqa: E402

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "drug", "pain", "the",
         "it", "was", "great", "awful"]  # fmt: skip


def _tokenizer() -> object:
    return transformers.BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})


def _task() -> Task:
    rng = np.random.default_rng(0)
    texts = np.array([" ".join(rng.choice(WORDS[5:], size=4)) for _ in range(40)], dtype=object)
    y = np.array(["good" in t or "great" in t for t in texts], dtype=np.int64)
    return Task(
        name="words", sector="other", kind="text", problem="classification",
        train=Split(texts[:24], y[:24]), val=Split(texts[24:32], y[24:32]),
        test=Split(texts[32:], y[32:]), metric="accuracy", n_classes=2,
        class_names=("bad", "good"), info=DatasetInfo("words", "generated in the test", "n/a"),
    )  # fmt: skip


def test_kd_from_an_llm_teacher_into_a_text_student(tmp_path: Path) -> None:
    torch.manual_seed(0)
    llama = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=len(WORDS), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    )).eval()  # fmt: skip
    template = PromptTemplate(template="{text} it was", label_words=("bad", "good"))
    teacher = llm_label_teacher(llama, _tokenizer(), template, cache_dir=tmp_path)
    bert = transformers.AutoModel.from_config(transformers.BertConfig(
        vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=32,
    ))  # fmt: skip
    student = HFClassifier(bert, num_labels=2, tokenizer=_tokenizer(), max_length=8)
    raw = _task()
    encoded = encode_task(raw, student.tokenizer, 8)
    bind_task(teacher, raw, encoded)
    before = [p.detach().clone() for p in student.parameters()]
    objective = build_objective([MethodSpec(name="kd")], label_weight=0.5, problem="classification")
    result = train(student, encoded, objective=objective, teacher=teacher,
                   config=TrainConfig(epochs=2, batch_size=8, threads=1),
                   cache=TeacherOutputCache())  # fmt: skip
    assert result.epochs_run == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, student.parameters(), strict=True))
    unique = len(set(raw.train.X) | set(raw.val.X) | set(raw.test.X))
    assert teacher.engine.calls <= unique  # each text through the LLM at most once
    probs = teacher.predict_scores(raw.test.X)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
