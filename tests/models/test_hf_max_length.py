"""Text length: the tokens a Hugging Face teacher reads come from its own folder, or are asked.

Tiny random BERTs with a 14-token vocabulary, built in the test; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

transformers = pytest.importorskip("transformers")

from potstill.config import SystemSpec  # noqa: E402
from potstill.errors import ConfigError  # noqa: E402
from potstill.models import HFClassifier, load_teacher, save_pretrained  # noqa: E402
from potstill.models.hf.io import HEAD_JSON, default_max_length  # noqa: E402
from potstill.study.tasks import encode_for_teacher, fit_to_teacher, load_task  # noqa: E402
from potstill.zoo import TeacherSpec, file_teacher  # noqa: E402

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "drug", "pain", "the",
         "it", "was", "great", "awful"]  # fmt: skip
UNKNOWN = int(1e30)  # what transformers writes when a tokenizer records no length


@pytest.mark.parametrize(
    ("config", "recorded", "expected"),
    [
        ({"max_position_embeddings": 32}, 24, (24, "the tokenizer's model_max_length")),
        ({"max_position_embeddings": 32}, UNKNOWN, (32, "config.json max_position_embeddings")),
        ({"max_position_embeddings": 512}, 4096, (512, "config.json max_position_embeddings")),
        ({"max_position_embeddings": 514, "model_type": "roberta"}, None,
         (512, "config.json max_position_embeddings - 2")),
        ({"max_position_embeddings": 514, "model_type": "xlm-roberta"}, 512,
         (512, "the tokenizer's model_max_length")),
        ({}, None, (128, "potstill's default (128; the folder records none)")),
    ],
)  # fmt: skip
def test_default_length_follows_the_folder(
    config: dict, recorded: int | None, expected: tuple[int, str]
) -> None:
    assert default_max_length(config, SimpleNamespace(model_max_length=recorded)) == expected


def _seq_cls_folder(root: Path, model_max_length: int | None) -> Path:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=32, max_position_embeddings=32, num_labels=2,
    )  # fmt: skip
    transformers.AutoModelForSequenceClassification.from_config(config).save_pretrained(root)
    options = {} if model_max_length is None else {"model_max_length": model_max_length}
    vocab = {w: i for i, w in enumerate(WORDS)}
    transformers.BertTokenizer(vocab=vocab, **options).save_pretrained(root)
    return root


def test_a_folder_s_tokenizer_length_is_used_unless_one_is_asked(tmp_path: Path) -> None:
    folder = _seq_cls_folder(tmp_path / "seq", model_max_length=24)
    teacher = load_teacher(folder, problem="classification")
    assert isinstance(teacher.module, HFClassifier)
    assert teacher.module.max_length == 24  # not the old fixed 128
    assert teacher.module.max_length_source == "the tokenizer's model_max_length"
    short = file_teacher(TeacherSpec(path=folder, max_length=6), "classification")
    assert short.module.max_length == 6  # type: ignore[union-attr]
    assert short.module.max_length_source == "requested (max_length)"  # type: ignore[union-attr]
    bare = load_teacher(_seq_cls_folder(tmp_path / "bare", None), problem="classification")
    assert bare.module.max_length == 32  # type: ignore[union-attr]  # max_position_embeddings


def test_potstill_s_own_record_wins(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=32, max_position_embeddings=32,
    )  # fmt: skip
    tokenizer = transformers.BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})
    model = HFClassifier(transformers.AutoModel.from_config(config), num_labels=2,
                         tokenizer=tokenizer, max_length=10)  # fmt: skip
    save_pretrained(model, tmp_path / "head", tokenizer=tokenizer)
    teacher = load_teacher(tmp_path / "head", problem="classification")
    assert teacher.module.max_length == 10  # type: ignore[union-attr]
    assert teacher.module.max_length_source == HEAD_JSON  # type: ignore[union-attr]


def test_only_text_teachers_take_max_length(tmp_path: Path) -> None:
    folder = _seq_cls_folder(tmp_path / "seq", model_max_length=24)
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])],
    )  # fmt: skip
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx"
    )
    with pytest.raises(ConfigError, match=r"but '.*m\.onnx' is a onnx teacher\. Remove it"):
        file_teacher(TeacherSpec(path=tmp_path / "m.onnx", max_length=16), "classification")
    with pytest.raises(ConfigError, match=r"must be <= 32, the position embeddings"):
        file_teacher(TeacherSpec(path=folder, max_length=64), "classification")


def test_the_record_says_the_length_its_source_and_the_texts_cut(tmp_path: Path) -> None:
    folder = _seq_cls_folder(tmp_path / "seq", model_max_length=24)
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS[5:], size=n)) for n in rng.integers(1, 40, size=60)]
    labels = ["yes" if "good" in t else "no" for t in texts]
    pd.DataFrame({"text": texts, "label": labels}).to_csv(tmp_path / "t.csv", index=False)
    longer = sum(len(t.split()) + 2 > 24 for t in texts)  # [CLS] + words + [SEP]
    for asked, tokens, source, cut in (
        (None, 24, "the tokenizer's model_max_length", longer),
        (8, 8, "teacher.max_length / --max-length", sum(len(t.split()) + 2 > 8 for t in texts)),
    ):
        spec = SystemSpec.model_validate({
            "name": "reviews",
            "dataset": {"path": str(tmp_path / "t.csv"), "target": "label", "text_column": "text"},
            "teacher": {"path": str(folder), "max_length": asked},
        })  # fmt: skip
        task = load_task(spec, seed=0)
        teacher = file_teacher(spec.teacher, "classification")
        task, fitted = fit_to_teacher(spec, task, teacher)
        assert fitted == {}  # a text task has no input_shape entry
        encoded, info = encode_for_teacher(spec, task, teacher.module)  # type: ignore[arg-type]
        assert encoded.train.X.shape[1:] == (2, tokens)
        assert info == {"max_length": {"tokens": tokens, "source": source, "texts_cut": cut,
                                       "texts": 60}}  # fmt: skip
        assert f"{cut} of 60 texts were longer and cut" in encoded.info.note
