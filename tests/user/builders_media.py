"""Image and text user teachers: a CNN in (N, 1, 8, 8) layout on scikit-learn's digits, saved
as ONNX (its table: 64 pixel columns) and as TorchScript (its data: an ``.npz`` of arrays and
labels), and a tiny BERT classifier whose ``id2label`` order is not alphabetical.

The BERT is built offline from a config and a 16-word vocabulary (no hub), trained for a
few seconds on keyword texts, and saved with ``save_pretrained``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from builders import (
    DigitsCNN,
    UserSystem,
    accuracy,
    export_onnx,
    fit_torch,
    n_params,
    one_thread,
    onnx_run,
    save_traced,
    split_labels,
    torch_scores,
)
from sklearn import datasets
from torch import nn

#: Shape of one digit image without the batch axis.
DIGIT_SHAPE = (1, 8, 8)


@functools.cache
def _digits_cnn() -> tuple[DigitsCNN, np.ndarray, np.ndarray, np.ndarray]:
    data = datasets.load_digits()
    X = data.images.reshape(-1, *DIGIT_SHAPE).astype(np.float32)
    y, split = data.target, split_labels(len(data.images))
    train = split == "train"
    torch.manual_seed(0)
    model = fit_torch(DigitsCNN(), X[train], y[train], nn.functional.cross_entropy, epochs=6)
    return model, X, y, split  # type: ignore[return-value]


def cnn_onnx(root: Path, model: DigitsCNN | None = None) -> UserSystem:
    """The CNN exported to ONNX with an (N, 1, 8, 8) input; a CSV of 64 pixel columns and
    ``input_shape: [1, 8, 8]``."""
    trained, X, y, split = _digits_cnn()
    model = model or trained
    path = root / "digits_cnn.onnx"
    export_onnx(model, torch.zeros(1, *DIGIT_SHAPE), path)
    flat = X.reshape(len(X), -1)
    frame = pd.DataFrame(flat, columns=[f"Pixel {r},{c}" for r in range(8) for c in range(8)])
    frame["Digit"] = y
    frame["Split"] = split
    frame.to_csv(root / "digits.csv", index=False)
    test = split == "test"
    pred = onnx_run(path, X[test]).argmax(1)
    return UserSystem(
        name="digits_cnn_onnx", fmt="CNN (NCHW) → ONNX", problem="classification",
        metric="accuracy", teacher=path, data=root / "digits.csv", target="Digit",
        library_metric=accuracy(pred, y[test]), n_test=int(test.sum()),
        teacher_params=n_params(model), classes=tuple(str(d) for d in range(10)),
        hidden=True, relation=True,
        dataset={"split": {"column": "Split"}},
        teacher_extra={"input_shape": list(DIGIT_SHAPE)},
        distill_args=("--input-shape", "1,8,8", "--split-column", "Split"),
    )  # fmt: skip


def cnn_torchscript(root: Path, model: DigitsCNN | None = None) -> UserSystem:
    """The same kind of CNN traced to TorchScript; the user's images in ``.npz`` files (``X``:
    (N, 1, 8, 8) arrays, ``y``: class ids, ``classes``: their names in the teacher's order),
    the test images in a file of their own."""
    trained, X, y, split = _digits_cnn()
    model = model or trained
    path = root / "digits_cnn.pt"
    save_traced(model, torch.zeros(2, *DIGIT_SHAPE), path)
    names = [f"digit {d}" for d in range(10)]
    test = split == "test"
    np.savez(root / "digits.npz", X=X[~test], y=y[~test], classes=np.array(names))
    np.savez(root / "digits_test.npz", X=X[test], y=y[test], classes=np.array(names))
    pred = torch_scores(model, X[test]).argmax(1)
    return UserSystem(
        name="digits_cnn_torchscript", fmt="CNN (NCHW) → TorchScript", problem="classification",
        metric="accuracy", teacher=path, data=root / "digits.npz", target="y",
        library_metric=accuracy(pred, y[test]), n_test=int(test.sum()),
        teacher_params=n_params(model), classes=tuple(names), hidden=True, relation=True,
        dataset={"split": {"test": str(root / "digits_test.npz")}},
        teacher_extra={"input_shape": list(DIGIT_SHAPE)},
        distill_args=("--input-shape", "1,8,8", "--test-data", str(root / "digits_test.npz")),
    )  # fmt: skip


# ---------------------------------------------------------------------- text

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "great", "bad", "awful", "the",
         "drug", "pain", "it", "was", "sleep", "dose"]  # fmt: skip
#: The teacher's id2label: not alphabetical (negative, neutral, positive).
SENTIMENTS = ("positive", "negative", "neutral")
TEXT_MAX_LENGTH = 12


def _texts(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    texts, codes = [], []
    for _ in range(n):
        words = list(rng.choice(WORDS[9:], size=int(rng.integers(2, 6))))
        code = int(rng.integers(0, 3))
        if code < 2:  # positive / negative carry their keyword
            words.insert(
                int(rng.integers(0, len(words))), str(rng.choice(WORDS[5 + 2 * code :][:2]))
            )
        texts.append(" ".join(words))
        codes.append(code)
    return texts, np.array(codes)


def _fine_tune(
    model: nn.Module, tokenizer: Any, texts: list[str], codes: np.ndarray, rows: np.ndarray
) -> None:
    """A few epochs of Adam on the training texts, one thread (a user's fine-tuning script)."""
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    with one_thread():
        for epoch in range(10):
            for idx in np.array_split(np.random.default_rng(epoch).permutation(rows), 6):
                opt.zero_grad()
                batch = _encode(tokenizer, [texts[i] for i in idx])
                model(**batch, labels=torch.as_tensor(codes[idx])).loss.backward()
                opt.step()
    model.eval()


def _encode(tokenizer: Any, batch: list[str]) -> dict[str, torch.Tensor]:
    return dict(tokenizer(batch, padding="max_length", truncation=True,
                          max_length=TEXT_MAX_LENGTH, return_tensors="pt"))  # fmt: skip


def hf_text(root: Path) -> UserSystem:
    """A tiny BERT sequence classifier with id2label {0: positive, 1: negative, 2: neutral},
    fine-tuned on keyword texts at max_length 12 and saved with ``save_pretrained``
    (tokenizer beside it)."""
    import transformers

    texts, codes = _texts(360, seed=0)
    split = split_labels(len(texts))
    config = transformers.BertConfig(
        vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=32, num_labels=3,
        id2label=dict(enumerate(SENTIMENTS)), label2id={s: i for i, s in enumerate(SENTIMENTS)},
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    tokenizer = transformers.BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)},
                                           model_max_length=TEXT_MAX_LENGTH)  # fmt: skip
    _fine_tune(model, tokenizer, texts, codes, np.flatnonzero(split == "train"))
    folder = root / "sentiment_bert"
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    labels = np.array(SENTIMENTS, dtype=object)[codes]
    frame = pd.DataFrame({"Review ID": np.arange(len(texts)) + 500, "Review Text": texts,
                          "Sentiment": labels, "Split": split})  # fmt: skip
    frame.to_csv(root / "reviews.csv", index=False)
    test = np.flatnonzero(split == "test")
    with torch.no_grad():
        logits = model(**_encode(tokenizer, [texts[i] for i in test])).logits.numpy()
    return UserSystem(
        name="reviews_bert", fmt="Hugging Face BERT (id2label)", problem="classification",
        metric="accuracy", teacher=folder, data=root / "reviews.csv", target="Sentiment",
        library_metric=accuracy(np.array(SENTIMENTS)[logits.argmax(1)], labels[test]),
        n_test=len(test), teacher_params=n_params(model), classes=SENTIMENTS,
        hidden=True, relation=True,
        dataset={"text_column": "Review Text", "drop": ["Review ID"], "split": {"column": "Split"}},
        # a transformer student needs more small steps than the fleet's tabular setting
        system_extra={"train": {"epochs": 30, "batch_size": 16, "patience": 10}},
        distill_args=("--text-column", "Review Text", "--split-column", "Split"),
    )  # fmt: skip
