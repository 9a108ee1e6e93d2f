"""`potstill inspect TEACHER`: what a teacher file holds, for ONNX, torch and trees."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import catboost
import joblib
import numpy as np
import pytest
import torch
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

from potstill import api
from potstill.cli import main
from potstill.models import MLP, save_model

RNG = np.random.default_rng(0)
X = RNG.normal(size=(80, 5)).astype(np.float32)
Y = np.array(["good", "bad"])[(X[:, 0] > 0).astype(int)]


def _inspect(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(["inspect", *args])
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


def _json(text: str) -> dict[str, Any]:
    last = text.strip().splitlines()[-1]
    parsed: dict[str, Any] = json.loads(last)
    return parsed


def test_onnx_inspect_lists_io_and_candidate_taps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(0)
    model = MLP(5, [8, 6], 3).eval()
    path = tmp_path / "mlp.onnx"
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*legacy TorchScript-based ONNX export", category=DeprecationWarning
        )
        torch.onnx.export(
            model, (torch.zeros(2, 5),), str(path), dynamo=False, input_names=["x"],
            output_names=["logits"], dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}},
        )  # fmt: skip
    code, out, _ = _inspect(capsys, str(path))
    info = _json(out)
    assert code == 0 and "candidate hidden layers" in out
    assert info["backend"] == "onnx" and info["params"] == sum(
        p.numel() for p in model.parameters()
    )
    assert info["inputs"] == [{"name": "x", "shape": ["n", 5], "dtype": "tensor(float)"}]
    assert info["outputs"][0]["shape"] == ["n", 3] and info["problem"] == "classification"
    defaults = [h["name"] for h in info["hidden"] if h["default"]]
    assert len(defaults) == 2 and all("Relu" in name for name in defaults)
    assert [h["embedding"] for h in info["hidden"]].count(True) == 1
    assert info["capabilities"] == ["embedding", "hidden", "logits"]


def test_torch_inspect_probes_layer_shapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(0)
    save_model(MLP(5, [8, 6], 1), tmp_path / "reg")
    code, out, _ = _inspect(capsys, str(tmp_path / "reg"))
    info = _json(out)
    assert code == 0 and info["backend"] == "torch" and info["problem"] == "regression"
    by_name = {h["name"]: h for h in info["hidden"]}
    assert by_name["blocks.0"]["shape"] == ["batch", 8] and by_name["blocks.0"]["default"]
    assert by_name["blocks.1"]["embedding"] and by_name["head"]["shape"] == ["batch", 1]


def test_torchscript_inspect_lists_submodules_without_hooks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ts.pt"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit", category=DeprecationWarning)
        torch.jit.trace(MLP(5, [8], 2).eval(), torch.zeros(2, 5)).save(str(path))
    code, out, _ = _inspect(capsys, str(path), "--input-shape", "5")
    info = _json(out)
    assert code == 0 and info["outputs"][0]["shape"] == ["batch", 2]
    assert "TorchScript" in info["note"] and {h["type"] for h in info["hidden"]} >= {"Linear"}
    # its verified chain gives the hidden layer, with its shape, without --input-shape too
    code, out, _ = _inspect(capsys, str(path))
    chosen = [h for h in _json(out)["hidden"] if h["default"]]
    assert code == 0 and [(h["name"], h["shape"]) for h in chosen] == [("blocks.0", ["batch", 8])]


def test_tree_inspect_counts_trees_and_leaves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forest = RandomForestClassifier(n_estimators=7, max_depth=3, random_state=0).fit(X, Y)
    joblib.dump(forest, tmp_path / "rf.joblib")
    code, out, _ = _inspect(capsys, str(tmp_path / "rf.joblib"), "--trust-pickle")
    info = _json(out)
    assert code == 0 and info["classes"] == ["bad", "good"] and info["params"] is None
    trees = info["trees"]
    assert trees["n_trees"] == 7 and trees["library"] == "sklearn"
    assert trees["leaves"] == sum(t.tree_.n_leaves for t in forest.estimators_)
    assert info["capabilities"] == ["embedding", "logits"]
    hgb = HistGradientBoostingClassifier(max_iter=3).fit(X, Y)
    joblib.dump(hgb, tmp_path / "hgb.joblib")
    hgb_info = api.inspect(tmp_path / "hgb.joblib", trust_pickle=True)
    assert hgb_info["trees"] is None and "no 'apply' method" in hgb_info["note"]


def test_inspect_refuses_what_load_teacher_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m.h5").write_bytes(b"\x89HDF")
    code, _, err = _inspect(capsys, str(tmp_path / "m.h5"))
    assert code == 2 and "Unknown teacher format '.h5'" in err and "Traceback" not in err
    joblib.dump(RandomForestClassifier(2).fit(X, Y), tmp_path / "rf.joblib")
    code, _, err = _inspect(capsys, str(tmp_path / "rf.joblib"))
    assert code == 2 and "--trust-pickle" in err


def test_hugging_face_inspect_reads_id2label_and_token_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    transformers = pytest.importorskip("transformers")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad"]
    config = transformers.BertConfig(
        vocab_size=len(words), hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=32, max_position_embeddings=16, num_labels=2,
        id2label={0: "pos", 1: "neg"}, label2id={"pos": 0, "neg": 1},
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.AutoModelForSequenceClassification.from_config(config)
    model.save_pretrained(str(tmp_path / "hf"))
    transformers.BertTokenizer(vocab={w: i for i, w in enumerate(words)}).save_pretrained(
        str(tmp_path / "hf")
    )
    code, out, _ = _inspect(capsys, str(tmp_path / "hf"))
    info = _json(out)
    assert code == 0 and info["backend"] == "hf" and info["classes"] == ["pos", "neg"]
    assert info["inputs"][0]["shape"] == ["batch", 2, 16] and info["outputs"][0]["shape"] == [
        "batch",
        2,
    ]
    assert [h["name"] for h in info["hidden"] if h["default"]] == ["hidden_taps.0", "hidden_taps.1"]


def test_gbm_files_inspect_with_their_objective_classes_and_trees(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = catboost.CatBoostClassifier(
        iterations=3, depth=2, verbose=0, class_names=["good", "bad"], allow_writing_files=False
    )
    model.fit(X, Y)
    model.save_model(str(tmp_path / "m.cbm"))
    code, out, _ = _inspect(capsys, str(tmp_path / "m.cbm"))
    info = _json(out)
    assert code == 0 and info["backend"] == "catboost" and info["classes"] == ["good", "bad"]
    assert info["outputs"][0]["shape"] == ["batch", 2] and info["problem"] == "classification"
    assert info["trees"]["n_trees"] == 3 and info["trees"]["leaves"] == 3 * 4
    assert info["params"] is None and "parameters —" in out.splitlines()[0]
