"""`potstill distill --text-column`: a Hugging Face teacher folder and a CSV of reviews."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

transformers = pytest.importorskip("transformers")

from potstill.cli import main  # noqa: E402
from potstill.models import HFClassifier, save_pretrained  # noqa: E402

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "drug", "pain", "the", "it",
         "was", "great", "awful"]  # fmt: skip


def test_distill_a_text_teacher_from_the_cli(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=4,
                                     num_attention_heads=4, intermediate_size=32,
                                     max_position_embeddings=32)  # fmt: skip
    tokenizer = transformers.BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})
    teacher = HFClassifier(transformers.AutoModel.from_config(config), num_labels=2, tokenizer=tokenizer,
                           max_length=8)  # fmt: skip
    save_pretrained(teacher, tmp_path / "teacher", tokenizer=tokenizer)
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS[5:], size=rng.integers(1, 6))) for _ in range(200)]
    labels = ["positive" if ("good" in t or "great" in t) else "negative" for t in texts]
    pd.DataFrame({"review": texts, "label": labels}).to_csv(tmp_path / "reviews.csv", index=False)

    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["distill", "--teacher", str(tmp_path / "teacher"), "--data", str(tmp_path / "reviews.csv"),
              "--target", "label", "--text-column", "review", "--method", "kd", "--method", "minilm",
              "--width", "1.0", "--max-length", "6", "--quick", "--out", str(out),
              "--allow-weak-teacher"])  # fmt: skip  # the teacher is random, untrained
    assert info.value.code in (0, None)
    records = {p.stem: json.loads(p.read_text()) for p in (out / "records").glob("*.json")}
    assert set(records) == {"system__scratch", "system__kd", "system__minilm"}
    for record in records.values():
        assert record["status"] == "ok", record["reason"]
        assert record["kind"] == "text" and record["teacher"]["backend"] == "hf"
        assert record["quality"]["n_test"] == 40  # measured on the raw test strings
        assert record["costs"]["reduction"] is not None
        # --max-length overrides the 8 tokens recorded with the teacher; the record says so
        assert record["teacher"]["max_length"] == {
            "tokens": 6, "source": "teacher.max_length / --max-length", "texts": 200,
            "texts_cut": sum(len(t.split()) + 2 > 6 for t in texts),
        }  # fmt: skip
        assert record["teacher"]["check"]["allowed_weak"] is True
    head = json.loads(
        (out / "students" / "system" / "kd" / "hf" / "potstill_head.json").read_text()
    )
    assert head["max_length"] == 6  # the student serves the length it was distilled at
    # The student is a layer-dropped copy: fewer parameters than the teacher.
    kd = records["system__kd"]
    assert kd["student"]["params"] < kd["teacher"]["params"]
