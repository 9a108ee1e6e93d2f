"""`potstill study` on an LLM → classifier system: a tiny random Llama answers a question
about each review; its label-word probabilities are distilled into a tiny BERT student
(tokenised with the student's own tokenizer). Nothing is downloaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

transformers = pytest.importorskip("transformers")

from potstill.cli import main  # noqa: E402
from potstill.zoo.spec import TeacherSpec  # noqa: E402

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "drug", "pain", "the",
         "it", "was", "great", "awful"]  # fmt: skip
PROMPT = "it was {text} the"


def _tokenizer() -> Any:
    return transformers.BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})


def _folders(root: Path) -> tuple[Path, Path]:
    torch.manual_seed(0)
    llama = transformers.LlamaConfig(
        vocab_size=len(WORDS), hidden_size=32, intermediate_size=64, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
        tie_word_embeddings=True, pad_token_id=0,
    )  # fmt: skip
    transformers.LlamaForCausalLM(llama).save_pretrained(root / "llm")
    _tokenizer().save_pretrained(root / "llm")
    bert = transformers.BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=2,
                                   num_attention_heads=4, intermediate_size=32,
                                   max_position_embeddings=32)  # fmt: skip
    transformers.BertModel(bert).save_pretrained(root / "encoder")
    _tokenizer().save_pretrained(root / "encoder")
    return root / "llm", root / "encoder"


def _fleet(root: Path, llm: dict[str, Any]) -> Path:
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS[5:], size=rng.integers(1, 6))) for _ in range(120)]
    labels = ["good" if ("good" in t or "great" in t) else "bad" for t in texts]
    pd.DataFrame({"review": texts, "label": labels}).to_csv(root / "reviews.csv", index=False)
    raw = {
        "name": "llm", "seed": 0, "grid": ["scratch", "kd"],
        "train": {"epochs": 2, "batch_size": 32, "patience": 2},
        "bench": {"warmup": 10, "min_calls": 10, "min_seconds": 0.01, "max_seconds": 1.0,
                  "batch_sizes": [1], "sweep_min_calls": 2, "sweep_min_seconds": 0.01,
                  "memory": False, "runtimes": ["eager"], "threads": 1},
        "evaluate": {"n_resamples": 20, "robustness": False},
        "gates": {"min_retention": 0.5},
        "systems": [{"name": "reviews", "sector": "healthcare",
                     "dataset": {"path": str(root / "reviews.csv"), "target": "label",
                                 "text_column": "review"},
                     "teacher": {"llm": llm, "max_length": 8},
                     "student": {"allow_larger": True}}],
    }  # fmt: skip
    (root / "fleet.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return root / "fleet.yaml"


def test_study_distils_an_llm_into_a_text_classifier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POTSTILL_CACHE", str(tmp_path / "cache"))
    llm, encoder = _folders(tmp_path)
    spec = {"path": str(llm), "prompt": PROMPT, "labels": ["good", "bad"],
            "student_base": str(encoder)}  # fmt: skip
    fleet = _fleet(tmp_path, spec)
    with pytest.raises(SystemExit) as info:
        main(["study", str(fleet), "--out", str(tmp_path / "out")])
    assert info.value.code in (0, None)
    records = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "out/records").glob("*.json")}
    assert set(records) == {"reviews__scratch", "reviews__kd"}
    for record in records.values():
        assert record["status"] == "ok", record.get("reason")
        assert record["teacher"]["backend"] == "llm"
        assert record["quality"]["n_test"] > 0
        assert record["quality"]["fidelity"]["agreement"]["value"] is not None
        assert set(record["quality"]["secondary"]["accuracy"]) == {"teacher", "student"}
        costs = record["costs"]
        assert costs["teacher_usd_per_million"] > 0 and costs["usd_per_million"] > 0
        assert costs["extra"]["teacher"]["runtime"] == "native"  # the LLM's own call, timed
        assert record["student"]["params"] < 37_600  # a BERT student, not the Llama
    # each text the teacher was asked about was scored once, and kept in the cache
    (cache,) = (tmp_path / "cache" / "llm-labels").glob("*.npz")
    with np.load(cache) as data:
        scored = list(map(str, data["texts"]))
        assert data["probs"].shape == (len(scored), 2)
    assert len(set(scored)) == len(scored) > 50  # the training texts and the test texts
    assert set(scored) <= set(pd.read_csv(tmp_path / "reviews.csv")["review"])


def test_labels_that_are_not_the_data_classes_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POTSTILL_CACHE", str(tmp_path / "cache"))
    fleet = _fleet(tmp_path, {"path": str(tmp_path / "none"), "prompt": PROMPT,
                              "labels": ["great", "awful"]})  # fmt: skip
    with pytest.raises(SystemExit) as info:
        main(["study", str(fleet), "--out", str(tmp_path / "out")])
    assert info.value.code == 2  # refused before any work, without a traceback
    err = capsys.readouterr().err
    assert "teacher.llm.labels must be the data's classes" in err and "['bad', 'good']" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("llm", "message"),
    [
        ({"prompt": "no field", "labels": ["good", "bad"]}, "{text}"),
        ({"prompt": PROMPT, "labels": ["good"]}, "at least 2"),
    ],
)
def test_bad_llm_config_is_refused(llm: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TeacherSpec.model_validate({"llm": llm})


def test_llm_and_path_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keep one"):
        TeacherSpec.model_validate(
            {"path": str(tmp_path), "llm": {"prompt": PROMPT, "labels": ["a", "b"]}}
        )
